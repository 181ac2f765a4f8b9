"""Walk-forward evaluation: choose parameters on a training window, judge them only on the
window that follows, roll forward by the test length, repeat. Trades still open at the end
of a window are closed on its last bar (``finalize_trades``) so each window stands alone.

The in-sample figures (of the chosen parameters on their training window) beside the
out-of-sample ones (the same parameters on unseen bars) are where overfitting shows. Test
windows get the ``warmup`` bars before them as indicator history only: no trade can open
before the test window starts, and no test bar is ever seen during selection.

Evaluation is embarrassingly parallel; pass ``map_fn`` (e.g. a process pool's ``map``) to
spread it. Jobs are plain picklable tuples. :class:`AutoPool` is the ``map_fn`` that starts a
pool only when the work left is worth one (see there); the results never depend on it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from engine.backtest.backtester import BacktestConfig, BacktestError, BacktestResult, run_backtest
from engine.backtest.sweep import METRICS, run_sets, score
from engine.strategy import Strategy

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


Job = tuple[type[Strategy], dict[str, Any], pl.DataFrame, BacktestConfig, int]


def _backtest(job: Job) -> BacktestResult:
    """One job's backtest. ``skip`` bars before the window are warm-up history: the strategy
    is told to wait at least that long."""
    cls, params, bars, config, skip = job
    strategy = cls(**params)
    warmup = max(strategy.warmup, skip) if skip else None
    return run_backtest(strategy, bars, config, warmup=warmup)


SearchJob = tuple[type[Strategy], list[dict[str, Any]], pl.DataFrame, BacktestConfig]


def search_window(job: SearchJob) -> list[dict[str, Any]]:
    """Every candidate set's stats on one training window, in the candidates' order, from one
    batched sweep (top level so process pools can run it; one thread: a pool is the
    parallelism then)."""
    cls, sets, bars, config = job
    try:
        runs, _ = run_sets(cls, bars, sets, config, threads=1)
    except BacktestError as exc:
        return [{"error": str(exc), "trades": 0} for _ in sets]
    return [r.stats for r in runs]


def evaluate(job: Job) -> dict[str, Any]:
    """One backtest's stats (top level so process pools can run it)."""
    try:
        return _backtest(job).stats
    except BacktestError as exc:
        return {"error": str(exc), "trades": 0}


def _test_job(
    cls: type[Strategy], params: dict[str, Any], bars: pl.DataFrame, w: Window, config: Any
) -> Job:
    """Window ``w``'s test bars with the chosen ``params``' warm-up bars before them."""
    start = max(0, w.test_start - cls(**params).warmup)
    return (cls, params, bars.slice(start, w.test_end - start), config, w.test_start - start)


@dataclass(frozen=True, slots=True)
class WindowRuns:
    """A window's chosen parameters run on its training bars and on its test bars (which
    start ``test_offset`` bars into ``out_of_sample``'s, after the warm-up history); None
    where that backtest could not run."""

    window: Window
    in_sample: BacktestResult | None
    out_of_sample: BacktestResult | None
    test_offset: int


def window_runs(
    cls: type[Strategy],
    bars: pl.DataFrame,
    result: WalkForwardResult,
    config: BacktestConfig | None = None,
) -> list[WindowRuns]:
    """The backtests behind each window's in-sample and out-of-sample figures, with their
    equity curves and trades (the walk-forward keeps only the statistics; the runs are
    deterministic, so these are the same runs again). ``bars`` and ``config`` as given to
    :func:`walk_forward`."""
    config = dataclasses.replace(config or BacktestConfig(), finalize_trades=True)
    out = []
    for r in result.windows:
        w = r.window
        jobs = (
            (cls, r.params, bars.slice(w.train_start, w.train_end - w.train_start), config, 0),
            _test_job(cls, r.params, bars, w, config),
        )
        runs: list[BacktestResult | None] = []
        for job in jobs:
            try:
                runs.append(_backtest(job))
            except BacktestError:
                runs.append(None)
        out.append(WindowRuns(w, runs[0], runs[1], jobs[1][4]))
    return out


# A pool costs a process per worker and the pickling of every chunk of jobs out and of its
# stats back. Forked (Linux's default), a worker starts with this process's modules and numba
# kernels, which the probe jobs have loaded: about 0.1 s of CPU in all for two workers, so a
# pool is started when the jobs left would take more than POOL_PAYS_S of CPU here (below it,
# the pool would save at most ~10%; above it, running here would lose more). Spawned or from a
# fork server (macOS, Windows, Python 3.14+), each worker imports numba and loads the kernels
# again, about 1.5 s: SPAWNED_POOL_PAYS_S then.
POOL_PAYS_S = 0.3
SPAWNED_POOL_PAYS_S = 5.0
PROBE_S = 0.05
PROBE_JOBS = 8


def pool_threshold_s() -> float:
    """Seconds of serial work left above which a pool pays, for this platform's start method."""
    import multiprocessing

    return POOL_PAYS_S if multiprocessing.get_start_method() == "fork" else SPAWNED_POOL_PAYS_S


def pool_pays(serial_s: float, workers: int, threshold_s: float) -> bool:
    """Whether ``workers`` processes are worth starting for work estimated at ``serial_s``
    seconds in this process."""
    return workers > 1 and serial_s > threshold_s


def default_workers() -> int:
    return os.cpu_count() or 1


class AutoPool:
    """A ``map_fn`` for :func:`walk_forward` that runs the jobs in this process and starts a
    pool of at most ``max_workers`` processes only when it pays.

    Each call runs a first job (the warm-up: numba's cache load, paid once here rather than
    once per worker) and then a few more (at most ``probe_jobs``, and a quarter of the rest)
    to time them in CPU seconds of this process (the work, however busy the machine); from
    their mean it estimates the jobs left and, when :func:`pool_pays`, maps those through a
    process pool (kept for later calls; :meth:`close` ends it). Results come back in job
    order either way, so the outcome is the same as a plain ``map``; only where the work runs
    differs. ``max_workers`` 1 never pools.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        threshold_s: float | None = None,
        probe_s: float = PROBE_S,
        probe_jobs: int = PROBE_JOBS,
    ) -> None:
        self.max_workers = max(1, max_workers or default_workers())
        self.threshold_s = pool_threshold_s() if threshold_s is None else threshold_s
        self.probe_s = probe_s
        self.probe_jobs = max(1, probe_jobs)
        self.pool: Executor | None = None
        self.workers_used = 1

    def __call__(self, fn: Callable[[Any], Any], jobs: Iterable[Any]) -> Iterator[Any]:
        todo = list(jobs)
        if self.pool is not None:
            yield from self._pooled(fn, todo)
            return
        if not todo:
            return
        yield fn(todo[0])
        done = 1
        # a few jobs (a window's whole search is one) leave most of them to a pool
        probes = min(self.probe_jobs, max(1, (len(todo) - 1) // 4))
        t0 = time.process_time()
        while done < len(todo) and done - 1 < probes and time.process_time() - t0 < self.probe_s:
            yield fn(todo[done])
            done += 1
        left = len(todo) - done
        timed = done - 1
        per_job = (time.process_time() - t0) / timed if timed else math.inf
        workers = min(self.max_workers, left)
        if left and pool_pays(per_job * left, workers, self.threshold_s):
            self.pool = ProcessPoolExecutor(max_workers=workers)
            self.workers_used = workers
            yield from self._pooled(fn, todo[done:])
        else:
            yield from map(fn, todo[done:])

    def _pooled(self, fn: Callable[[Any], Any], jobs: list[Any]) -> Iterator[Any]:
        assert self.pool is not None
        chunk = max(1, len(jobs) // (self.workers_used * 4))
        yield from self.pool.map(fn, jobs, chunksize=chunk)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None

    def __enter__(self) -> AutoPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    map_fn: Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]] = map,
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

    # one frame per window, shared by its jobs: a pool pickles a chunk of jobs at once, and
    # pickle sends an object the chunk holds many times only once
    train_bars = [bars.slice(w.train_start, train) for w in windows]
    search_jobs: list[SearchJob] = [(cls, sets, tb, config) for tb in train_bars]
    blocks = list(map_fn(search_window, search_jobs))
    chosen: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for block in blocks:
        for _ in tick(block):
            pass
        best = max(range(len(sets)), key=lambda j: score(block[j], metric))
        chosen.append((sets[best], block[best]))

    test_jobs = [
        _test_job(cls, params, bars, w, config)
        for w, (params, _) in zip(windows, chosen, strict=True)
    ]
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
