"""The one way a benchmark here compares, checks and reports.

A benchmark times qws (A) against a reference (B) on the same data, the same number of runs,
interleaved A B A B (so a busy spell hurts both alike), takes medians, checks the two results
equal in full before printing a figure, and prints each figure beside its target with OK or
MISSED. ``benchmarks/run_all.py`` (``make bench``) runs every script and ends with one table
of all the targets: each script appends its verdicts to the file named by ``QWS_BENCH_SUMMARY``.

Run as scripts (``.venv/bin/python benchmarks/x.py``), so this module is imported as
``harness`` from the scripts' own folder.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

SUMMARY_ENV = "QWS_BENCH_SUMMARY"


@dataclass(frozen=True, slots=True)
class Timings:
    """Seconds per run of A (qws) and B (the reference), interleaved."""

    a: list[float]
    b: list[float]

    @property
    def a_median(self) -> float:
        return statistics.median(self.a)

    @property
    def b_median(self) -> float:
        return statistics.median(self.b)

    @property
    def ratio(self) -> float:
        """A's median over B's: below 1 means qws is faster."""
        return self.a_median / self.b_median


def interleave(
    a: Callable[[], Any],
    b: Callable[[], Any],
    runs: int,
    *,
    warmup: int = 1,
    check: Callable[[Any, Any], None] | None = None,
) -> Timings:
    """Time ``a`` and ``b`` alternately, ``runs`` times each, after ``warmup`` untimed rounds.

    ``check(result_a, result_b)`` runs on every round's results (outside the timing) and must
    raise if they differ; by default results are compared with :func:`assert_same`.
    """
    verify = check or assert_same
    for _ in range(warmup):
        verify(a(), b())
    ta: list[float] = []
    tb: list[float] = []
    for i in range(runs):
        order = (a, b) if i % 2 == 0 else (b, a)
        results = {}
        for fn in order:
            t0 = time.perf_counter()
            results[fn] = fn()
            (ta if fn is a else tb).append(time.perf_counter() - t0)
        verify(results[a], results[b])
    return Timings(ta, tb)


def repeat(fn: Callable[[], Any], runs: int, *, warmup: int = 1) -> list[float]:
    """Seconds per run of ``fn`` alone (for a figure against an absolute target)."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def assert_same(a: Any, b: Any, what: str = "results") -> None:
    """Raise AssertionError unless ``a`` and ``b`` are equal in full.

    Arrays compare element by element with NaN equal to NaN and exact equality; pass
    ``rtol`` tolerance through :func:`assert_close` where floating-point order differs.
    """
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        x, y = np.asarray(a), np.asarray(b)
        if x.shape != y.shape:
            raise AssertionError(f"{what}: shapes differ, {x.shape} vs {y.shape}")
        same = np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
        if not same:
            bad = int(np.count_nonzero(~((x == y) | (np.isnan(x) & np.isnan(y)))))
            raise AssertionError(f"{what}: {bad} of {x.size} elements differ")
        return
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        if len(a) != len(b):
            raise AssertionError(f"{what}: lengths differ, {len(a)} vs {len(b)}")
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{what}[{i}]")
        return
    if a != b:
        raise AssertionError(f"{what}: {a!r} != {b!r}")


def assert_close(a: Any, b: Any, what: str = "results", *, rtol: float = 1e-9) -> None:
    """Like :func:`assert_same` for floats whose summation order differs: every element within
    ``rtol`` (relative, with an absolute floor of ``rtol`` for values near 0), NaN where NaN."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise AssertionError(f"{what}: shapes differ, {x.shape} vs {y.shape}")
    nan_x, nan_y = np.isnan(x), np.isnan(y)
    if not np.array_equal(nan_x, nan_y):
        first = int(np.flatnonzero(nan_x != nan_y)[0])
        raise AssertionError(f"{what}: NaN in one only, first at index {first}")
    ok = np.isclose(x, y, rtol=rtol, atol=rtol, equal_nan=True)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise AssertionError(
            f"{what}: {int((~ok).sum())} of {x.size} differ beyond rtol={rtol}; "
            f"first at {i}: {x.flat[i]!r} vs {y.flat[i]!r}"
        )


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of ``samples``; raises on no samples rather than print 0."""
    if not samples:
        raise ValueError("no samples: nothing was measured")
    return float(np.percentile(np.asarray(samples, dtype=float), q))


@dataclass(frozen=True, slots=True)
class Verdict:
    """One target: what was measured, as printed, against what it must be."""

    benchmark: str
    work: str
    measured: str
    target: str
    ok: bool

    @property
    def mark(self) -> str:
        return "OK" if self.ok else "MISSED"


def verdict(work: str, measured: str, target: str, ok: bool) -> Verdict:
    """Print one target line and record it for ``make bench``'s summary."""
    v = Verdict(_script_name(), work, measured, target, bool(ok))
    print(f"  [{v.mark}] {work}: {measured}  (target {target})", flush=True)
    path = os.environ.get(SUMMARY_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(v)) + "\n")
    return v


def ratio_verdict(work: str, t: Timings, *, at_most: float, unit: str = "ms") -> Verdict:
    """The common case: qws's median beside the reference's, the ratio against ``at_most``."""
    scale = {"ms": 1e3, "s": 1.0, "us": 1e6}[unit]
    measured = (
        f"{t.a_median * scale:.3g} {unit} vs {t.b_median * scale:.3g} {unit} "
        f"= {t.ratio:.2f}x (median of {len(t.a)})"
    )
    return verdict(work, measured, f"<= {at_most:g}x", t.ratio <= at_most)


def read_summary(path: str) -> list[Verdict]:
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(Verdict(**json.loads(line)))
    return out


def _script_name() -> str:
    return os.path.splitext(os.path.basename(sys.argv[0]))[0] or "?"
