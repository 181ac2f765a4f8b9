"""The command language's parser (``engine.commands.parse``) over the phrasing table of
``tests/engine/test_command_phrasings.py``: the command bar parses as the user types (the
palette shows each reading), so a parse must cost far less than a keystroke.

Before any figure, every phrasing is checked: each one the table reads parses to its whole
expected Command, each one it refuses raises CommandError. Then, ``RUNS`` rounds each:

- the table's phrasings, whole: parses per second, target >= 10,000, and the time per parse;
- every prefix of every phrasing, as typed a key at a time (most of them refused half-way):
  parses per second, target >= 10,000;
- the slowest single phrasing (median of its runs), target under 1 ms.

Run: .venv/bin/python benchmarks/commands.py [--quick]
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
from functools import partial
from pathlib import Path
from types import ModuleType

from harness import repeat, verdict

from engine.commands import CommandError, parse

RUNS = 15
TABLE = Path(__file__).resolve().parent.parent / "tests" / "engine" / "test_command_phrasings.py"
Case = tuple[str, list[str]]


def load_table() -> ModuleType:
    spec = importlib.util.spec_from_file_location("command_phrasings", TABLE)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the phrasing table {TABLE}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check(table: ModuleType) -> list[Case]:
    """Every phrasing parsed as the table says, before anything is timed."""
    from engine.commands import Command

    for text, symbols, intent, entities in table.READ:
        got = parse(text, symbols)
        if got != Command(intent, entities):
            raise AssertionError(f"{text!r}: {got} != {Command(intent, entities)}")
    for text, symbols, message in table.REFUSED:
        try:
            parse(text, symbols)
        except CommandError as exc:
            if message not in str(exc):
                raise AssertionError(f"{text!r}: {exc!s} lacks {message!r}") from None
        else:
            raise AssertionError(f"{text!r} parsed; the table says it is refused")
    return [(t, s) for t, s, _, _ in table.READ] + [(t, s) for t, s, _ in table.REFUSED]


def parse_all(cases: list[Case]) -> int:
    refused = 0
    for text, symbols in cases:
        try:
            parse(text, symbols)
        except CommandError:
            refused += 1
    return refused


def main() -> None:
    runs = 3 if "--quick" in sys.argv else RUNS
    cases = check(load_table())
    typed = [(text[:n], symbols) for text, symbols in cases for n in range(1, len(text) + 1)]

    whole = statistics.median(repeat(lambda: parse_all(cases), runs))
    keys = statistics.median(repeat(lambda: parse_all(typed), runs))
    slowest, slowest_text = 0.0, ""
    for text, symbols in cases:
        one = statistics.median(repeat(partial(parse_all, [(text, symbols)]), runs))
        if one > slowest:
            slowest, slowest_text = one, text

    per_whole, per_key = whole / len(cases), keys / len(typed)
    print(f"{len(cases)} phrasings, {len(typed)} keystroke prefixes, median of {runs} rounds")
    verdict(
        f"parse the table's {len(cases)} phrasings",
        f"{1 / per_whole:,.0f} parses/s ({per_whole * 1e6:.1f} us per parse)",
        ">= 10,000/s",
        1 / per_whole >= 10_000,
    )
    verdict(
        f"parse {len(typed)} prefixes as typed",
        f"{1 / per_key:,.0f} parses/s ({per_key * 1e6:.1f} us per parse)",
        ">= 10,000/s",
        1 / per_key >= 10_000,
    )
    verdict(
        "the slowest phrasing",
        f"{slowest * 1e6:.1f} us ({slowest_text!r})",
        "< 1 ms",
        slowest < 1e-3,
    )


if __name__ == "__main__":
    main()
