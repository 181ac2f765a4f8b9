"""``qws config path|show``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from workstation.cli import CliError
from workstation.cli.common import load_settings
from workstation.runtime.config import config_path, leaves


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show where the config file is, or the merged settings")
    csub = p.add_subparsers(dest="config_cmd", required=True, metavar="ACTION")
    path = csub.add_parser("path", help="print the config file path (it need not exist)")
    path.set_defaults(func=_path)
    show = csub.add_parser(
        "show",
        help="print every setting with its value and where it comes from (default, file, env)",
    )
    show.add_argument(
        "prefix", nargs="?", default="", help="only the settings under this key, e.g. signals"
    )
    show.add_argument(
        "--json",
        action="store_true",
        help='JSON instead of a table: {"key": {"value": ..., "source": ...}}',
    )
    show.set_defaults(func=_show)


def _path(args: argparse.Namespace) -> int:
    print(config_path())
    return 0


def _show(args: argparse.Namespace) -> int:
    settings = load_settings()
    prefix = args.prefix.strip(".")
    shown = {
        key: value
        for key, value in sorted(leaves(settings.as_dict()).items())
        if not prefix or key == prefix or key.startswith(f"{prefix}.")
    }
    if not shown:
        raise CliError(f"no setting {prefix!r}; `qws config show` lists them all")
    if args.json:
        out = {k: {"value": v, "source": settings.source(k)} for k, v in shown.items()}
        print(json.dumps(out, indent=2))
        return 0
    path = settings.path or config_path()
    print(f"config file: {path}" + ("" if path.exists() else " (not found: defaults apply)"))
    rows = [(key, settings.source(key), _text(value)) for key, value in shown.items()]
    key_width = max(len("setting"), *(len(r[0]) for r in rows))
    source_width = max(len("source"), *(len(r[1]) for r in rows))
    print(f"{'setting'.ljust(key_width)}  {'source'.ljust(source_width)}  value")
    for key, source, value in rows:
        print(f"{key.ljust(key_width)}  {source.ljust(source_width)}  {value}")
    return 0


def _text(value: Any) -> str:
    """A value as JSON: for scalars and lists of them, also how the config file writes it."""
    return json.dumps(value, ensure_ascii=False)
