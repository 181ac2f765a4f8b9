"""Walk-forward evaluation: choose parameters on a training window, judge them only on the
window that follows, roll forward by the test length, repeat. Trades still open at the end
of a window are closed on its last bar (``finalize_trades``) so each window stands alone.

The in-sample figures (of the chosen parameters on their training window) beside the
out-of-sample ones (the same parameters on unseen bars) are where overfitting shows. Test
windows get the ``warmup`` bars before them as indicator history only: no trade can open
before the test window starts, and no test bar is ever seen during selection.

Evaluation is embarrassingly parallel; pass ``map_fn`` (e.g. a process pool's ``map``) to
spread it. Jobs are plain picklable tuples.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from engine.backtest.backtester import BacktestConfig, BacktestError, run_backtest
from engine.strategy import Strategy

METRICS = ("sharpe", "return_pct", "sortino", "calmar", "profit_factor", "expectancy_pct")
SUMMARY_KEYS = (
    "return_pct",
    "buy_hold_pct",
    "sharpe",
    "max_drawdown_pct",
    "win_rate_pct",
    "profit_factor",
    "trades",
)


@dataclass(frozen=True, slots=True)
class Window:
    index: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int


@dataclass(frozen=True, slots=True)
class WindowResult:
    window: Window
    params: dict[str, Any]
    in_sample: dict[str, Any]
    out_of_sample: dict[str, Any]
    candidates: int


@dataclass(frozen=True, slots=True)
class WalkForwardResult:
    windows: list[WindowResult]
    metric: str
    summary: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return {
            "metric": self.metric,
            "summary": {k: {s: clean(x) for s, x in v.items()} for k, v in self.summary.items()},
            "windows": [
                {
                    "index": w.window.index,
                    "train": [w.window.train_start, w.window.train_end],
                    "test": [w.window.test_start, w.window.test_end],
                    "params": w.params,
                    "candidates": w.candidates,
                    "in_sample": {k: clean(w.in_sample.get(k)) for k in SUMMARY_KEYS},
                    "out_of_sample": {k: clean(w.out_of_sample.get(k)) for k in SUMMARY_KEYS},
                }
                for w in self.windows
            ],
        }


class WalkForwardError(ValueError):
    pass


def parse_spec(text: str) -> tuple[int, int]:
    """``"2000:500"`` -> (2000, 500)."""
    try:
        train, test = (int(x) for x in text.split(":"))
    except ValueError:
        raise WalkForwardError(
            f"walk-forward must be TRAIN:TEST bar counts, got {text!r}"
        ) from None
    if train <= 0 or test <= 0:
        raise WalkForwardError(f"walk-forward windows must be positive, got {text!r}")
    return train, test


def make_windows(n: int, train: int, test: int) -> list[Window]:
    out: list[Window] = []
    start = 0
    while start + train + test <= n:
        out.append(Window(len(out), start, start + train, start + train, start + train + test))
        start += test
    if not out:
        raise WalkForwardError(
            f"{n} bars are too few for one {train}-bar training + {test}-bar test window"
        )
    return out


def candidates(
    cls: type[Strategy],
    search: str = "grid",
    max_evals: int = 50,
    seed: int = 0,
    fixed: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Parameter sets to try: the full grid of the params' ranges (valid ones only), or
    ``max_evals`` of them drawn at random (``search="random"`` or a grid that is too big)."""
    spec = cls.param_spec()
    fixed = fixed or {}
    points = 6 if search == "grid" else 25
    axes = {k: ([fixed[k]] if k in fixed else p.grid(points)) for k, p in spec.items()}
    names = list(axes)
    grid = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]
    valid = []
    for values in grid:
        try:
            cls(**values)
        except ValueError:
            continue
        valid.append(values)
    if not valid:
        raise WalkForwardError(f"no valid parameter combination for {cls.name}")
    if search == "random" or len(valid) > max_evals:
        valid = random.Random(seed).sample(valid, min(max_evals, len(valid)))
    return valid


def _score(stats: dict[str, Any], metric: str) -> float:
    v = stats.get(metric)
    if v is None or not isinstance(v, int | float) or not math.isfinite(v) or stats["trades"] == 0:
        return -math.inf
    return float(v)


Job = tuple[type[Strategy], dict[str, Any], pl.DataFrame, BacktestConfig, int]


def evaluate(job: Job) -> dict[str, Any]:
    """One backtest (top level so process pools can run it). ``skip`` bars before the window
    are warm-up history: the strategy is told to wait at least that long."""
    cls, params, bars, config, skip = job
    strategy = cls(**params)
    warmup = max(strategy.warmup, skip) if skip else None
    try:
        return run_backtest(strategy, bars, config, warmup=warmup).stats
    except BacktestError as exc:
        return {"error": str(exc), "trades": 0}


def walk_forward(
    cls: type[Strategy],
    bars: pl.DataFrame,
    train: int,
    test: int,
    config: BacktestConfig | None = None,
    *,
    metric: str = "sharpe",
    search: str = "grid",
    max_evals: int = 50,
    seed: int = 0,
    fixed: dict[str, Any] | None = None,
    map_fn: Callable[[Callable[[Job], dict[str, Any]], Iterable[Job]], Iterable[Any]] = map,
    progress: Callable[[int, int], None] | None = None,
) -> WalkForwardResult:
    if metric not in METRICS:
        raise WalkForwardError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    # trades still open at a window's end are closed there, so every window's trades count
    config = dataclasses.replace(config or BacktestConfig(), finalize_trades=True)
    windows = make_windows(bars.height, train, test)
    sets = candidates(cls, search, max_evals, seed, fixed)
    total = len(windows) * len(sets) + len(windows)
    done = 0

    def tick(results: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        nonlocal done
        for r in results:
            done += 1
            if progress:
                progress(done, total)
            yield r

    train_jobs: list[Job] = [
        (cls, p, bars.slice(w.train_start, train), config, 0) for w in windows for p in sets
    ]
    train_stats = list(tick(map_fn(evaluate, train_jobs)))
    chosen: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for k, _w in enumerate(windows):
        block = train_stats[k * len(sets) : (k + 1) * len(sets)]
        best = max(range(len(sets)), key=lambda j: _score(block[j], metric))
        chosen.append((sets[best], block[best]))

    test_jobs: list[Job] = []
    for w, (params, _) in zip(windows, chosen, strict=True):
        warm = cls(**params).warmup
        start = max(0, w.test_start - warm)
        test_jobs.append(
            (cls, params, bars.slice(start, w.test_end - start), config, w.test_start - start)
        )
    test_stats = list(tick(map_fn(evaluate, test_jobs)))

    results = [
        WindowResult(w, params, ins, oos, len(sets))
        for w, (params, ins), oos in zip(windows, chosen, test_stats, strict=True)
    ]
    return WalkForwardResult(results, metric, _summary(results))


def _summary(results: list[WindowResult]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for key in SUMMARY_KEYS:
        row = {}
        for side in ("in_sample", "out_of_sample"):
            vals = [getattr(r, side).get(key) for r in results]
            finite = [float(v) for v in vals if isinstance(v, int | float) and math.isfinite(v)]
            row[side] = sum(finite) / len(finite) if finite else math.nan
        out[key] = row
    compounded = {}
    for side in ("in_sample", "out_of_sample"):
        growth = 1.0
        for r in results:
            growth *= 1 + float(getattr(r, side).get("return_pct", 0.0) or 0.0) / 100
        compounded[side] = (growth - 1) * 100
    out["compounded_return_pct"] = compounded
    return out
