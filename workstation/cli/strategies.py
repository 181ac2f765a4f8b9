"""``qws strategies list`` and ``qws strategies new NAME``."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from workstation.cli import CliError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("strategies", help="list installed strategies or start a new one")
    ssub = p.add_subparsers(dest="strategies_cmd", required=True, metavar="ACTION")
    ls = ssub.add_parser(
        "list", help="every strategy found (entry points and the user strategies folder)"
    )
    ls.add_argument("--json", action="store_true", help="one JSON array instead of a table")
    ls.add_argument("--verbose", "-v", action="store_true", help="show tracebacks of failures")
    ls.set_defaults(func=cmd_list)
    new = ssub.add_parser(
        "new",
        help="write a ready-to-install strategy package (entry point, strategy, passing test)",
    )
    new.add_argument("name", help="strategy name: lowercase letters, digits and _")
    new.add_argument("--dir", type=Path, default=Path("."), help="parent folder (default: .)")
    new.set_defaults(func=cmd_new)


def _param_text(p: Any) -> str:
    rng = ""
    if p.choices:
        rng = f" {{{','.join(map(str, p.choices))}}}"
    elif p.low is not None or p.high is not None:
        rng = f" [{p.low}..{p.high}]"
    return f"{p.default!r}{rng}"


def cmd_list(args: argparse.Namespace) -> int:
    from workstation.strategies.discovery import discover, strategies_dir

    infos = discover()
    if args.json:
        rows = [
            {
                "name": i.name,
                "enabled": i.enabled,
                "source": i.source,
                "error": i.error,
                "traceback": i.traceback,
                "description": getattr(i.cls, "description", "") if i.cls else "",
                "params": {
                    k: {
                        "default": p.default,
                        "low": p.low,
                        "high": p.high,
                        "choices": list(p.choices),
                        "doc": p.doc,
                    }
                    for k, p in i.params.items()
                },
            }
            for i in infos
        ]
        print(json.dumps(rows, indent=2, default=str))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"strategies (user folder: {strategies_dir()})")
    for col in ("name", "status", "params", "source"):
        table.add_column(col)
    for i in infos:
        status = "ok" if i.enabled else f"[red]disabled[/]: {i.error}"
        params = ", ".join(f"{k}={_param_text(p)}" for k, p in i.params.items())
        table.add_row(i.name, status, params, i.source)
    console = Console(width=160)
    console.print(table)
    if args.verbose:
        for i in infos:
            if i.traceback:
                console.print(f"[bold]{i.name}[/] ({i.source}):\n{i.traceback}", markup=True)
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    from workstation.strategies.template import write_package

    name = args.name.replace("-", "_")
    if not NAME_RE.match(name):
        raise CliError(
            f"invalid strategy name {args.name!r}: use lowercase letters, digits and _ "
            "(starting with a letter)"
        )
    try:
        root = write_package(name, args.dir)
    except FileExistsError as exc:
        raise CliError(str(exc)) from exc
    print(f"wrote {root}")
    print(f"  install it:  pip install -e {root}")
    print(f"  test it:     python -m pytest {root}")
    print(f"  run it:      qws backtest --symbol BTC/USDT --timeframe 1h --strategy {name}")
    return 0
