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
    "workstation.cli.calibrate",
    "workstation.cli.trade",
    "workstation.cli.algo",
    "workstation.cli.headless",
    "workstation.cli.telegram_cmd",
    "workstation.cli.bridge",
    "workstation.cli.backtest",
    "workstation.cli.strategies",
    "workstation.cli.news",
    "workstation.cli.audit",
    "workstation.cli.report",
    "workstation.cli.serve",
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
    "calibrate": "workstation.cli.calibrate",
    "order": "workstation.cli.trade",
    "orders": "workstation.cli.trade",
    "positions": "workstation.cli.trade",
    "cancel": "workstation.cli.trade",
    "flatten": "workstation.cli.trade",
    "pnl": "workstation.cli.trade",
    "kill": "workstation.cli.trade",
    "reconcile": "workstation.cli.trade",
    "risk": "workstation.cli.trade",
    "algo": "workstation.cli.algo",
    "trade": "workstation.cli.headless",
    "keys": "workstation.cli.telegram_cmd",
    "telegram": "workstation.cli.telegram_cmd",
    "alerts": "workstation.cli.telegram_cmd",
    "bridge": "workstation.cli.bridge",
    "backtest": "workstation.cli.backtest",
    "strategies": "workstation.cli.strategies",
    "news": "workstation.cli.news",
    "audit": "workstation.cli.audit",
    "report": "workstation.cli.report",
    "serve": "workstation.cli.serve",
}


GLOBAL_OPTIONS = {"--db": "SQLite file (default: QWS_DB or the user data dir)"}
"""Options every command takes, before or after its name (``qws --db F run``, ``qws run --db F``);
each takes one value."""


class CliError(Exception):
    """A user-facing error: printed as one clear line, exit code 2, no traceback."""


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    """The parser with the subcommands of ``modules`` (all of them by default)."""
    parser = argparse.ArgumentParser(
        prog="qws",
        description="Quantum Workstation: live quotes, charts, quantum cycle detection, signals"
        " and orders in your terminal.",
    )
    for option, text in GLOBAL_OPTIONS.items():
        parser.add_argument(option, help=text)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules:
        importlib.import_module(name).register(sub)
    _add_global_options(parser)
    return parser


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    """The global options on every subcommand (and theirs) too, suppressed when not given so
    one given before the command name is kept."""
    seen: set[int] = set()
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for child in action.choices.values():
            if id(child) in seen:
                continue
            seen.add(id(child))
            for option, text in GLOBAL_OPTIONS.items():
                if option not in child._option_string_actions:
                    child.add_argument(option, default=argparse.SUPPRESS, help=text)
            _add_global_options(child)


def _global_option_width(word: str) -> int:
    """How many words a global option takes at ``word`` (``--db F``: 2, ``--db=F``: 1), or 0."""
    if word in GLOBAL_OPTIONS:
        return 2
    return 1 if word.partition("=")[0] in GLOBAL_OPTIONS and "=" in word else 0


def command_module(argv: Sequence[str]) -> str | None:
    """The module of the subcommand ``argv`` names, when it surely names one: its first word
    after the global options (``--db FILE``), and nothing before it argparse might read
    otherwise (an abbreviated option, ``-h``). None means: build the whole parser."""
    word = _first_word(argv)
    if word is None or word.startswith("-"):
        return None
    return COMMANDS.get(word)


def _first_word(argv: Sequence[str]) -> str | None:
    """The first word of ``argv`` that is not a global option or its value."""
    i = 0
    while i < len(argv):
        width = _global_option_width(argv[i])
        if not width:
            return argv[i]
        i += width
    return None


def _names_no_command(argv: Sequence[str]) -> bool:
    """``qws``, ``qws --db F`` and ``qws --feed replay ...``: the options of ``qws run``. Help
    and an abbreviated global option (``--d F``) are left to the whole parser."""
    word = _first_word(argv)
    if word is None:
        return True
    name = word.partition("=")[0]
    abbreviated = any(o.startswith(name) for o in GLOBAL_OPTIONS)
    return word.startswith("-") and word not in ("-h", "--help") and not abbreviated


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; known secrets are masked in everything it prints."""
    from workstation.runtime.secrets import redacted_output

    with redacted_output():
        return _run(argv)


def _run(argv: Sequence[str] | None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if _names_no_command(words):
        words = ["run", *words]
    module = command_module(words)
    parser = build_parser((module,) if module else COMMAND_MODULES)
    args = parser.parse_args(words)
    if args.command is None:  # `qws --d F`: an abbreviated global option alone
        args = parser.parse_args(["run", *words])
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
