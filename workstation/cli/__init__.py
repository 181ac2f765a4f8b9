"""The ``qws`` command line: one module per job, each with ``register(subparsers)``.

A command module adds its parser and sets ``func`` (a callable taking the parsed args and
returning an exit code). Heavy imports happen inside ``func``, so ``qws --help`` is instant.
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


class CliError(Exception):
    """A user-facing error: printed as one clear line, exit code 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qws",
        description="Quantum Workstation: live quotes, charts, quantum cycle detection, signals"
        " and orders in your terminal.",
    )
    parser.add_argument("--db", help="SQLite file (default: QWS_DB or the user data dir)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; known secrets are masked in everything it prints."""
    from workstation.runtime.secrets import redacted_output

    with redacted_output():
        return _run(argv)


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
