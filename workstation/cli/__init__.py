"""The ``qws`` command line: one module per job, each with ``register(subparsers)``.

A command module adds its parser and sets ``func`` (a callable taking the parsed args and
returning an exit code). Heavy imports happen inside ``func``, so ``qws --help`` is instant.
A run that names its command imports only that command's module (:data:`COMMANDS`); some
modules pull in asyncio or the trading events at import, which a one-shot job like
``qws backtest`` would otherwise pay for on every start.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "workstation.cli.run",
    "workstation.cli.data",
    "workstation.cli.doctor",
    "workstation.cli.config_cmd",
    "workstation.cli.scan",
    "workstation.cli.fetch",
    "workstation.cli.cycles",
    "workstation.cli.trade",
    "workstation.cli.headless",
    "workstation.cli.telegram_cmd",
    "workstation.cli.bridge",
    "workstation.cli.backtest",
    "workstation.cli.strategies",
)

# Every subcommand and the module that registers it; a test holds it to what the modules add.
COMMANDS = {
    "run": "workstation.cli.run",
    "import": "workstation.cli.data",
    "bars": "workstation.cli.data",
    "doctor": "workstation.cli.doctor",
    "config": "workstation.cli.config_cmd",
    "scan": "workstation.cli.scan",
    "fetch": "workstation.cli.fetch",
    "cycles": "workstation.cli.cycles",
    "order": "workstation.cli.trade",
    "orders": "workstation.cli.trade",
    "positions": "workstation.cli.trade",
    "cancel": "workstation.cli.trade",
    "flatten": "workstation.cli.trade",
    "pnl": "workstation.cli.trade",
    "kill": "workstation.cli.trade",
    "reconcile": "workstation.cli.trade",
    "risk": "workstation.cli.trade",
    "trade": "workstation.cli.headless",
    "keys": "workstation.cli.telegram_cmd",
    "telegram": "workstation.cli.telegram_cmd",
    "alerts": "workstation.cli.telegram_cmd",
    "bridge": "workstation.cli.bridge",
    "backtest": "workstation.cli.backtest",
    "strategies": "workstation.cli.strategies",
}


class CliError(Exception):
    """A user-facing error: printed as one clear line, exit code 2, no traceback."""


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    """The parser with the subcommands of ``modules`` (all of them by default)."""
    parser = argparse.ArgumentParser(
        prog="qws",
        description="Quantum Workstation: live quotes, charts, quantum cycle detection, signals"
        " and orders in your terminal.",
    )
    parser.add_argument("--db", help="SQLite file (default: QWS_DB or the user data dir)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def command_module(argv: Sequence[str]) -> str | None:
    """The module of the subcommand ``argv`` names, when it surely names one: its first word
    after the global options (``--db FILE``), and nothing before it argparse might read
    otherwise (an abbreviated option, ``-h``). None means: build the whole parser."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--db":
            i += 2
        elif word.startswith("--db="):
            i += 1
        elif word.startswith("-"):
            return None
        else:
            return COMMANDS.get(word)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; known secrets are masked in everything it prints."""
    from workstation.runtime.secrets import redacted_output

    with redacted_output():
        return _run(argv)


def _run(argv: Sequence[str] | None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    module = command_module(words)
    parser = build_parser((module,) if module else COMMAND_MODULES)
    args = parser.parse_args(words)
    if args.command is None:
        args = parser.parse_args(["run", *(argv or sys.argv[1:])])
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"qws: error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # damage a query met after the store was opened
        from workstation.store.errors import StoreDamagedError

        if not isinstance(exc, StoreDamagedError):
            raise
        print(f"qws: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`qws bars ... | head`): not an error, and nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
