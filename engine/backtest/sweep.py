"""Parameter sweeps: every combination of a strategy's parameters over the same bars, at once.

A vectorised strategy (one with ``vectorized``) is swept in batches: one :class:`Indicators`
serves every combination, so each distinct indicator (``sma(20)``) is computed once; the
strategy's ``vectorized`` builds each combination's order arrays (numpy over all the bars,
no per-bar Python); then :func:`engine.backtest.broker_sim.run_batch` runs every combination
of a chunk in one compiled loop, chunks on several threads (the kernel releases the GIL).
Each combination's trades and stats are exactly those of :func:`run_backtest` with the same
parameters, added up by the same :func:`summarise`. A strategy without ``vectorized`` is run
one combination at a time (the same results, slower), and :attr:`Sweep.batched` says so.

Axes are written ``fast=5:50:5`` (start:stop:step, the stop included when the steps reach it)
or ``fast=5,8,13``; a combination the strategy refuses (``fast >= slow``) is left out and
counted, with the reason.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import polars as pl

from engine.backtest import broker_sim as bs
from engine.backtest.backtester import (
    CAP,
    BacktestConfig,
    BacktestError,
    _arrays,
    _slippage,
    run_backtest,
    summarise,
    vector_arrays,
)
from engine.strategy import Indicators, Strategy, StrategyError, VectorOrders

METRICS = ("sharpe", "return_pct", "sortino", "calmar", "profit_factor", "expectancy_pct")
"""What a sweep can rank by (higher is better for each)."""

EQUITY_BYTES = 64 * 2**20
"""Equity rows (8 bytes a bar) held at once per thread: a chunk is as many combinations as
fit, so a sweep's memory does not grow with its combinations, and no more than an even share
per thread, so every thread has a chunk to run."""


class SweepError(ValueError):
    """A sweep that cannot run: an axis that cannot be read, no valid combination."""


@dataclass(frozen=True, slots=True)
class SweepRun:
    """One combination's parameters (all of them, defaults included), stats and trades."""

    params: dict[str, Any]
    stats: dict[str, Any]
    trades: pl.DataFrame
    open_trades: pl.DataFrame


@dataclass(frozen=True, slots=True)
class Sweep:
    """Every valid combination's run, best first by ``metric`` (a run with no trade, or whose
    metric is undefined, ranks last; ties keep the grid's order); ``skipped`` the combinations
    the strategy refused, with its reason."""

    strategy: str
    metric: str
    axes: dict[str, list[Any]]
    runs: tuple[SweepRun, ...]
    skipped: tuple[tuple[dict[str, Any], str], ...]
    bars: int
    batched: bool

    @property
    def best(self) -> SweepRun:
        return self.runs[0]

    def grid(self, x: str, y: str) -> tuple[list[Any], list[Any], np.ndarray]:
        """The metric over two axes: (x values, y values, array [y, x]); NaN where no valid
        combination (or an undefined metric); with more axes, the best over the others."""
        xs, ys = self.axes[x], self.axes[y]
        out = np.full((len(ys), len(xs)), np.nan)
        for run in self.runs:
            v = score(run.stats, self.metric)
            if not math.isfinite(v):
                continue
            j, i = ys.index(run.params[y]), xs.index(run.params[x])
            if not v <= out[j, i]:
                out[j, i] = v
        return xs, ys, out


def score(stats: Mapping[str, Any], metric: str) -> float:
    """``stats[metric]`` as a rank: -inf for a run without trades or an undefined value."""
    v = stats.get(metric)
    if v is None or not isinstance(v, int | float) or not math.isfinite(v) or stats["trades"] == 0:
        return -math.inf
    return float(v)


def parse_axis(text: str) -> tuple[str, list[Any]]:
    """``"fast=5:50:5"`` -> ("fast", [5, 10, ..., 50]); ``"fast=5,8,13"`` -> ("fast", [5, 8, 13]).

    Numbers are read exactly (``0.1:0.3:0.1`` is 0.1, 0.2, 0.3, not 0.30000000000000004);
    whole numbers stay ints. Anything else is a :class:`SweepError` naming the axis."""
    name, sep, spec = text.partition("=")
    name = name.strip()
    if not sep or not name or not spec.strip():
        raise SweepError(f"an axis is NAME=START:STOP:STEP or NAME=A,B,C, got {text!r}")
    try:
        parts = [
            Decimal(p) for p in (spec.split(":") if ":" in spec else spec.split(",")) if p.strip()
        ]
    except (InvalidOperation, ValueError):
        raise SweepError(f"{name}: cannot read {spec!r} as numbers") from None
    if ":" not in spec:
        values = parts
    else:
        if len(parts) != 3:
            raise SweepError(f"{name}: a range is START:STOP:STEP, got {spec!r}")
        start, stop, step = parts
        if not all(p.is_finite() for p in parts) or not step > 0 or stop < start:
            raise SweepError(f"{name}: {spec!r} needs STEP > 0 and STOP >= START")
        count = int((stop - start) / step) + 1
        if count > 100_000:
            raise SweepError(f"{name}: {spec!r} is {count:,} values; at most 100,000")
        values = [start + i * step for i in range(count)]
    if any(not v.is_finite() for v in values):
        raise SweepError(f"{name}: {spec!r} is not finite")
    out = [int(v) if v == v.to_integral_value() else float(v) for v in values]
    return name, list(dict.fromkeys(out))


def combinations(
    cls: type[Strategy], axes: Mapping[str, Sequence[Any]], fixed: Mapping[str, Any] | None = None
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """Every combination of ``axes`` (with ``fixed`` for the other parameters), as the
    strategy coerces it, and those it refuses, with its reason."""
    spec = cls.param_spec()
    unknown = sorted(set(axes) - set(spec))
    if unknown:
        raise SweepError(
            f"{cls.name}: no parameter {', '.join(unknown)} to sweep (has {', '.join(spec)})"
        )
    both = sorted(set(axes) & set(fixed or {}))
    if both:
        raise SweepError(f"{', '.join(both)} both swept and fixed")
    names = list(axes)
    valid: list[dict[str, Any]] = []
    skipped: list[tuple[dict[str, Any], str]] = []
    for values in itertools.product(*(axes[k] for k in names)):
        chosen = dict(zip(names, values, strict=True))
        try:
            strategy = cls(**{**(fixed or {}), **chosen})
        except ValueError as exc:
            skipped.append((chosen, str(exc)))
            continue
        valid.append(dict(strategy.params))
    return valid, skipped


def sweep(
    cls: type[Strategy],
    bars: pl.DataFrame,
    axes: Mapping[str, Sequence[Any]],
    config: BacktestConfig | None = None,
    *,
    metric: str = "sharpe",
    fixed: Mapping[str, Any] | None = None,
    threads: int | None = None,
    warmup: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Sweep:
    """Backtest every valid combination of ``axes`` over ``bars``; see the module doc.
    ``warmup`` overrides every combination's own (as :func:`run_backtest` takes it);
    ``progress(done, total)`` is called as chunks finish (from the calling thread)."""
    if metric not in METRICS:
        raise SweepError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    config = config or BacktestConfig()
    valid, skipped = combinations(cls, axes, fixed)
    if not valid:
        reasons = sorted({why for _, why in skipped})
        raise SweepError(f"no valid combination of {', '.join(axes)}: {'; '.join(reasons)}")
    runs, batched = run_sets(cls, bars, valid, config, warmup=warmup, threads=threads,
                             progress=progress)  # fmt: skip
    ranked = sorted(runs, key=lambda r: -score(r.stats, metric))
    return Sweep(
        strategy=cls.name or cls.__name__,
        metric=metric,
        axes={k: [v for v in axes[k] if any(p[k] == v for p in valid)] for k in axes},
        runs=tuple(ranked),
        skipped=tuple(skipped),
        bars=bars.height,
        batched=batched,
    )


def run_sets(
    cls: type[Strategy],
    bars: pl.DataFrame,
    sets: Sequence[Mapping[str, Any]],
    config: BacktestConfig | None = None,
    *,
    warmup: int | None = None,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[SweepRun], bool]:
    """Backtest each parameter set of ``sets`` over ``bars``, batched where the strategy is
    vectorised: the runs in the order of ``sets``, and whether they were batched."""
    config = config or BacktestConfig()
    cols = _arrays(bars)
    n = len(cols["close"])
    strategies = [cls(**params) for params in sets]
    if not strategies:
        return [], True
    warmups = [max(int(s.warmup if warmup is None else warmup), 0) for s in strategies]
    indicators = Indicators(cols, lambda: n - 1)
    first = strategies[0].vectorized(bars, indicators) if config.vectorized else None
    if first is None:
        return _one_at_a_time(strategies, bars, config, warmup, progress), False
    runs = _batched(strategies, first, bars, cols, indicators, warmups, config, threads,
                    progress)  # fmt: skip
    return runs, True


def _orders(strategy: Strategy, bars: pl.DataFrame, indicators: Indicators) -> VectorOrders:
    vec = strategy.vectorized(bars, indicators)
    if vec is None:
        raise StrategyError(
            f"{strategy.name}: vectorized returned None for {dict(strategy.params)} after"
            " returning orders for other parameters"
        )
    return vec


def _one_at_a_time(
    strategies: list[Strategy],
    bars: pl.DataFrame,
    config: BacktestConfig,
    warmup: int | None,
    progress: Callable[[int, int], None] | None,
) -> list[SweepRun]:
    runs = []
    for done, strategy in enumerate(strategies, 1):
        result = run_backtest(strategy, bars, config, warmup=warmup)
        runs.append(SweepRun(dict(strategy.params), result.stats, result.trades,
                             result.open_trades))  # fmt: skip
        if progress is not None:
            progress(done, len(strategies))
    return runs


def _batched(
    strategies: list[Strategy],
    first: Any,
    bars: pl.DataFrame,
    cols: dict[str, np.ndarray],
    indicators: Indicators,
    warmups: list[int],
    config: BacktestConfig,
    threads: int | None,
    progress: Callable[[int, int], None] | None,
) -> list[SweepRun]:
    n = len(cols["close"])
    slip = _slippage(cols, config)
    params = config.kernel_params()
    wanted = max(1, threads or os.cpu_count() or 1)
    per_chunk = max(1, min(256, EQUITY_BYTES // (8 * n), -(-len(strategies) // wanted)))
    chunks = [range(i, min(i + per_chunk, len(strategies)))
              for i in range(0, len(strategies), per_chunk)]  # fmt: skip
    workers = min(wanted, len(chunks))

    def arrays(chunk: range) -> list[np.ndarray]:
        """The chunk's order arrays, stacked (built on the calling thread: strategies and the
        shared indicator cache are plain Python)."""
        rows = [vector_arrays(first if k == 0 else _orders(strategies[k], bars, indicators), n)
                for k in chunk]  # fmt: skip
        stacked = [np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])]
        for j in range(2, 6):
            width = max(len(r[j]) for r in rows)
            stacked.append(np.stack([np.broadcast_to(r[j], (width,)) for r in rows]))
        return stacked

    def run(chunk: range, orders: list[np.ndarray]) -> list[SweepRun]:
        side, close, size, is_frac, sl, tp = orders
        EQ = np.empty((len(chunk), n))
        warm = np.array([warmups[k] for k in chunk], dtype=np.int64)
        o, h, lo, c = cols["open"], cols["high"], cols["low"], cols["close"]
        cts, trs, ss = bs.run_batch(o, h, lo, c, slip, side, close, size, is_frac, sl, tp,
                                    warm, params, float(config.cash), int(config.max_trades),
                                    CAP, EQ)  # fmt: skip
        out = []
        for row, k in enumerate(chunk):
            equity = EQ[row].copy()
            done = summarise(cols, cts[row], trs[row], ss[row], equity, config, warmups[k])
            out.append(SweepRun(dict(strategies[k].params), done.stats, done.trades,
                                done.open_trades))  # fmt: skip
        return out

    results: list[SweepRun] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = []
        for chunk in chunks:
            pending.append(pool.submit(run, chunk, arrays(chunk)))
            while len(pending) > workers:  # at most one chunk's arrays waiting per thread
                results.extend(pending.pop(0).result())
                if progress is not None:
                    progress(len(results), len(strategies))
        for future in pending:
            results.extend(future.result())
            if progress is not None:
                progress(len(results), len(strategies))
    return results


__all__ = [
    "METRICS",
    "BacktestError",
    "Sweep",
    "SweepError",
    "SweepRun",
    "combinations",
    "parse_axis",
    "run_sets",
    "score",
    "sweep",
]
