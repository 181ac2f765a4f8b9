"""Backtests against backtesting.py, and the walk-forward pool against no pool.

1. Engine throughput: sma_cross(10, 20) on the same 100,000 bars in qws and in backtesting.py
   (its own SmaCross example: its SMA, its crossover), interleaved A B A B, medians of the same
   number of runs after a warm-up (numba's cache load, shown apart). The data is a seeded
   random walk with a commission (0.2 bp) that keeps the account trading to the last bar; the
   script checks that it does (trades in every tenth of the series, equity never below a tenth
   of the cash). Every round both trade lists are compared in full (entry and exit bar, size,
   entry and exit price, PnL and fees to round-off) and the final equity must agree.
   Target: qws's time at most backtesting.py's (it should be far below).
2. Whole process: ``qws backtest --csv GOOG.csv --strategy sma_cross --json`` against a plain
   backtesting.py script on the same CSV (backtesting.py's own GOOG sample), fresh
   interpreters interleaved, medians of 5 each, the closed trades and final equity of the two
   outputs compared in full. Both use cached bytecode (a private ``PYTHONPYCACHEPREFIX``,
   written by the warm-up run), as an installed package has. Target: qws < 1x.
3. Walk-forward: workers 1 (no pool), auto (the default ``AutoPool``) and 2 (a 2-process pool
   always) on a small job (GOOG, 500:250, 10 parameter sets: ~0.05 s of work) and a large one
   (60,000 bars, 6000:3000, 50 sets: ~1 s), each run in a fresh interpreter as
   ``qws backtest --walk-forward`` runs (numba's kernels not yet loaded), the modes rotated,
   medians of 5 (small) and 3 (large), every result equal in full. The time is the
   walk-forward's own, from the bars in memory to the result, the pool's start and shutdown
   included; the interpreter's start-up, the same in every mode, is left out as noise.
   Target: auto within 10% of the better of 1 and 2.

Run: .venv/bin/python benchmarks/backtest.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from harness import assert_close, assert_same, interleave, ratio_verdict, verdict

BARS = 100_000
COMMISSION = 0.00002
CASH = 10_000.0
RUNS = 3
PROCESS_RUNS = 5
WF_RUNS = {"small": 5, "large": 3}
WF_SMALL_EVALS = 10
WF_LARGE_BARS = 60_000
WF_SMALL_SPEC = "500:250"
WF_LARGE_SPEC = "6000:3000"
WF_LARGE_EVALS = 50
ROOT = Path(__file__).resolve().parent.parent
QWS = str(Path(sys.executable).parent / "qws")

PLAIN_SCRIPT = """\
import json, sys, warnings
import pandas as pd
from backtesting import Backtest, Strategy
from backtesting.lib import crossover
from backtesting.test import SMA

class SmaCross(Strategy):
    def init(self):
        self.sma1 = self.I(SMA, self.data.Close, 10)
        self.sma2 = self.I(SMA, self.data.Close, 20)

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()

df = pd.read_csv(sys.argv[1], index_col=0, parse_dates=True)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    stats = Backtest(df, SmaCross, cash=10_000).run()
t = stats._trades
print(json.dumps({
    "equity_final": float(stats["Equity Final [$]"]),
    "trades": [[int(r.EntryBar), int(r.ExitBar), float(r.Size), float(r.EntryPrice),
                float(r.ExitPrice), float(r.PnL), float(r.Commission)] for r in t.itertuples()],
}))
"""


# --- 1. engine throughput -------------------------------------------------------------------


def make_bars(n: int, seed: int = 0) -> pl.DataFrame:
    """A seeded random walk of minute bars with wicks and small opening gaps."""
    rng = np.random.default_rng(seed)
    c = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    o = np.concatenate(([100.0], c[:-1])) * np.exp(rng.normal(0, 0.0003, n))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.001, n)))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.001, n)))
    ts = 1_700_000_000_000_000_000 + np.arange(n, dtype=np.int64) * 60_000_000_000
    return pl.DataFrame(
        {"ts": ts, "open": o, "high": h, "low": lo, "close": c, "volume": np.ones(n)}
    )


def to_pandas(bars: pl.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Open": bars["open"].to_numpy(),
            "High": bars["high"].to_numpy(),
            "Low": bars["low"].to_numpy(),
            "Close": bars["close"].to_numpy(),
            "Volume": bars["volume"].to_numpy(),
        },
        index=pd.to_datetime(bars["ts"].to_numpy(), unit="ns"),
    )


def reference_runner(df: pd.DataFrame) -> Callable[[], Any]:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class RefSmaCross(Strategy):
        def init(self) -> None:
            self.sma1 = self.I(SMA, self.data.Close, 10)
            self.sma2 = self.I(SMA, self.data.Close, 20)

        def next(self) -> None:
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                self.sell()

    bt = Backtest(df, RefSmaCross, cash=CASH, commission=COMMISSION, finalize_trades=True)

    def run() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bt.run()

    return run


def ours_table(result: Any) -> tuple[np.ndarray, np.ndarray, float]:
    t = result.trades
    bars_ = np.column_stack([t["entry_bar"].to_numpy(), t["exit_bar"].to_numpy()])
    values = np.column_stack(
        [t[c].to_numpy() for c in ("size", "entry_price", "exit_price", "pnl", "fees")]
    )
    return bars_, values, float(result.stats["equity_final"])


def reference_table(stats: Any) -> tuple[np.ndarray, np.ndarray, float]:
    t = stats["_trades"]
    bars_ = np.column_stack([t["EntryBar"].to_numpy(), t["ExitBar"].to_numpy()])
    values = np.column_stack(
        [
            t[c].to_numpy(dtype=float)
            for c in ("Size", "EntryPrice", "ExitPrice", "PnL", "Commission")
        ]
    )
    return bars_, values, float(stats["Equity Final [$]"])


def same_trades(ours: Any, ref: Any) -> None:
    a, b = ours_table(ours), reference_table(ref)
    assert_same(a[0], b[0], "entry/exit bars")
    assert_close(a[1], b[1], "size, entry/exit price, PnL, fees", rtol=1e-9)
    assert_close(a[2], b[2], "final equity", rtol=1e-9)


def check_tradable(result: Any, n: int) -> None:
    """The account trades across the whole series: no tenth of it without trades, and it
    never falls under a tenth of the starting cash."""
    entries = result.trades["entry_bar"].to_numpy()
    per_tenth = np.bincount(entries * 10 // n, minlength=10)
    low = float(np.min(result.equity))
    if per_tenth.min() == 0 or low < CASH / 10:
        raise AssertionError(f"not tradable to the end: trades per tenth {per_tenth}, low {low}")
    print(
        f"  {result.stats['trades']:,} trades, at least {per_tenth.min()} in every tenth of the"
        f" series; equity low {low:,.0f}, final {result.stats['equity_final']:,.0f}"
        f" (cash {CASH:,.0f}, commission {COMMISSION:g})"
    )


def engine_throughput() -> None:
    from engine.backtest.backtester import BacktestConfig, run_backtest
    from plugins.strategies.sma_cross import SmaCross

    print(f"1. sma_cross(10, 20) on the same {BARS:,} bars, qws vs backtesting.py {_version()}")
    bars = make_bars(BARS)
    config = BacktestConfig(cash=CASH, commission=COMMISSION, finalize_trades=True)
    t0 = time.perf_counter()
    first = run_backtest(SmaCross(), bars, config)
    print(f"  qws first call (numba cache load, once a process): {time.perf_counter() - t0:.2f} s")
    check_tradable(first, BARS)
    t = interleave(
        lambda: run_backtest(SmaCross(), bars, config),
        reference_runner(to_pandas(bars)),
        RUNS,
        check=same_trades,
    )
    print(
        f"  qws {BARS / t.a_median / 1e6:.2f} M bars/s, backtesting.py"
        f" {BARS / t.b_median / 1e3:.1f} k bars/s: qws {1 / t.ratio:,.0f}x the bars/s;"
        " trades equal in full every round"
    )
    ratio_verdict(f"backtest sma_cross {BARS:,} bars vs backtesting.py", t, at_most=1.0)


# --- 2. whole process -----------------------------------------------------------------------


def _env(pycache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def _run_json(cmd: list[str], env: dict[str, str]) -> Any:
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout)


def _process_trades(out: Any) -> tuple[np.ndarray, np.ndarray, float]:
    if "stats" in out:  # qws's JSON
        rows = out["trades"]
        bars_ = np.array([[r["entry_bar"], r["exit_bar"]] for r in rows])
        cols = ("size", "entry_price", "exit_price", "pnl", "fees")
        values = np.array([[r[c] for c in cols] for r in rows], dtype=float)
        return bars_, values, float(out["stats"]["equity_final"])
    rows = out["trades"]
    return (
        np.array([r[:2] for r in rows]),
        np.array([r[2:] for r in rows], dtype=float),
        float(out["equity_final"]),
    )


def _same_process_output(a: Any, b: Any) -> None:
    x, y = _process_trades(a), _process_trades(b)
    if len(x[0]) < 20:
        raise AssertionError(f"only {len(x[0])} trades: not a comparison")
    assert_same(x[0], y[0], "entry/exit bars")
    assert_close(x[1], y[1], "size, entry/exit price, PnL, fees", rtol=1e-9)
    assert_close(x[2], y[2], "final equity", rtol=1e-9)


def whole_process(tmp: Path, env: dict[str, str]) -> None:
    import backtesting

    csv = tmp / "GOOG.csv"
    csv.write_bytes((Path(backtesting.__file__).parent / "test" / "GOOG.csv").read_bytes())
    plain = tmp / "plain_backtesting.py"
    plain.write_text(PLAIN_SCRIPT, encoding="utf-8")
    qws_cmd = [QWS, "backtest", "--csv", str(csv), "--strategy", "sma_cross", "--json"]
    plain_cmd = [sys.executable, str(plain), str(csv)]
    print(
        f"2. whole process on GOOG.csv (2,148 daily bars), fresh interpreters,"
        f" median of {PROCESS_RUNS}"
    )
    t = interleave(
        lambda: _run_json(qws_cmd, env),
        lambda: _run_json(plain_cmd, env),
        PROCESS_RUNS,
        check=_same_process_output,
    )
    ratio_verdict(
        "qws backtest --csv GOOG.csv --json vs a plain backtesting.py script",
        t,
        at_most=1.0,
        unit="s",
    )


# --- 3. walk-forward pool -------------------------------------------------------------------


def wf_child(path: str, spec: str, evals: str, mode: str) -> None:
    """One walk-forward the way ``qws backtest --walk-forward`` runs it, with the pool fixed by
    ``mode``: "1" none, "auto" the default AutoPool, "2" a 2-process pool always."""
    from engine.backtest.backtester import BacktestConfig
    from engine.backtest.walkforward import AutoPool, parse_spec, walk_forward
    from feeds.ohlcv_file import read_ohlcv
    from workstation.strategies.discovery import get

    cls = get("sma_cross")
    bars = read_ohlcv(path).frame
    train, test = parse_spec(spec)
    t0 = time.perf_counter()
    pool = {"1": AutoPool(1), "auto": AutoPool(), "2": AutoPool(2, threshold_s=0.0)}[mode]
    with pool:
        result = walk_forward(
            cls, bars, train, test, BacktestConfig(), max_evals=int(evals), map_fn=pool
        )
    seconds = time.perf_counter() - t0
    out = result.to_dict()
    out["workers_used"] = pool.workers_used
    out["seconds"] = seconds
    print(json.dumps(out, default=str))


def walk_forward_pool(tmp: Path, env: dict[str, str]) -> None:
    large = tmp / "large.parquet"
    make_bars(WF_LARGE_BARS, seed=3).with_columns(
        pl.from_epoch("ts", time_unit="ns")
    ).write_parquet(large)
    jobs = [
        ("small", str(tmp / "GOOG.csv"), WF_SMALL_SPEC, WF_SMALL_EVALS),
        ("large", str(large), WF_LARGE_SPEC, WF_LARGE_EVALS),
    ]
    modes = ("1", "auto", "2")
    print("3. walk-forward sma_cross, workers 1 / auto / 2, each in a fresh interpreter")
    for label, path, spec, evals in jobs:
        runs = WF_RUNS[label]
        times: dict[str, list[float]] = {m: [] for m in modes}
        used: dict[str, int] = {}
        reference: Any = None
        for i in range(runs):
            order = modes[i % 3 :] + modes[: i % 3]
            for mode in order:
                cmd = [sys.executable, __file__, "--wf-child", path, spec, str(evals), mode]
                out = _run_json(cmd, env)
                times[mode].append(out.pop("seconds"))
                used[mode] = out.pop("workers_used")
                if reference is None:
                    reference = out
                assert_same(json.dumps(out, sort_keys=True), json.dumps(reference, sort_keys=True))
        med = {m: statistics.median(v) for m, v in times.items()}
        best = min(med["1"], med["2"])
        windows = reference["windows"]
        bars_n = windows[-1]["test"][1]
        print(
            f"  {label}: {spec}, {len(windows)} windows (to bar {bars_n:,}) x"
            f" {windows[0]['candidates']} parameter sets, median of {runs};"
            f" workers 1 {med['1']:.2f} s, auto {med['auto']:.2f} s"
            f" ({used['auto']} process{'es' if used['auto'] > 1 else ''}), 2 {med['2']:.2f} s;"
            " same windows, params and metrics in every mode"
        )
        verdict(
            f"walk-forward {label}: auto vs the better of workers 1 and 2",
            f"{med['auto']:.2f} s vs {best:.2f} s = {med['auto'] / best:.2f}x (median of {runs})",
            "<= 1.1x",
            med["auto"] <= 1.1 * best,
        )


def _version() -> str:
    import backtesting

    return backtesting.__version__


def main() -> None:
    engine_throughput()
    with tempfile.TemporaryDirectory(prefix="qws-bench-backtest-") as tmp_name:
        tmp = Path(tmp_name)
        env = _env(str(tmp / "pycache"))
        whole_process(tmp, env)
        walk_forward_pool(tmp, env)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--wf-child"]:
        wf_child(*sys.argv[2:6])
    else:
        main()
