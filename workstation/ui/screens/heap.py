"""Keeping the cyclic garbage collector's full passes short while quotes stream.

A full (generation 2) pass walks every container object alive: once Textual, polars, numba
and qiskit are loaded that is millions of them, and each pass held the loop for 100-200 ms about
once a second at 2,000 quotes/s (most of the screen's worst quote-to-row and key latencies).
What is alive once the screen is up, and again once the engine has run (its first run loads
numba and qiskit), lives as long as the process: :func:`settle` moves it out of the collector's
reach (``gc.freeze``), so later passes walk only what was made since.

Each moment settles once per process: garbage alive at that moment is never collected, which is
bounded only if it happens once (a test session starts many apps in one process).
"""

from __future__ import annotations

import gc

_settled: set[str] = set()


def settle(moment: str) -> None:
    """Exempt every object alive now from later collections, the first time ``moment`` comes."""
    if moment in _settled:
        return
    _settled.add(moment)
    gc.freeze()
