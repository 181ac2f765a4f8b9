"""``qws config path|show``."""

from __future__ import annotations

import argparse
import json

from workstation.cli.common import load_settings
from workstation.runtime.config import config_path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show where the config file is, or the merged settings")
    csub = p.add_subparsers(dest="config_cmd", required=True, metavar="ACTION")
    path = csub.add_parser("path", help="print the config file path (it need not exist)")
    path.set_defaults(func=_path)
    show = csub.add_parser("show", help="print every setting with defaults and overrides merged")
    show.set_defaults(func=_show)


def _path(args: argparse.Namespace) -> int:
    print(config_path())
    return 0


def _show(args: argparse.Namespace) -> int:
    print(json.dumps(load_settings().as_dict(), indent=2, sort_keys=True))
    return 0
