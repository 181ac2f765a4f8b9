"""Performance statistics of an equity curve and a trade list.

Definitions follow backtesting.py's ``compute_stats`` so figures are comparable with it:
annualised return from the geometric mean of daily returns (bars coarser than a day use their
own period), volatility of compounded returns, Sharpe = annual return / volatility (risk-free
rate 0), Sortino with the downside deviation, Calmar = annual return / max drawdown; win rate,
profit factor and expectancy over the closed trades' returns. Exposure counts the bars with a
trade open, including trades still open at the end. The drawdown duration in days is the
calendar time from the peak to the recovery (or the last bar), as backtesting.py measures it.

A statistic the data cannot define (no trades, zero volatility, too few bars, a short sample
annualised past a float's range) is NaN, never infinite, and ``stats["undefined"]`` says why:
``{"sharpe": "zero volatility"}``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
from numba import njit

from engine.timeframes import DAY_NS

YEAR_NS = 365.25 * DAY_NS

STAT_LABELS: dict[str, str] = {
    "start": "Start (ts ns)",
    "end": "End (ts ns)",
    "bars": "Bars",
    "equity_final": "Equity final",
    "equity_peak": "Equity peak",
    "return_pct": "Return %",
    "buy_hold_pct": "Buy&Hold %",
    "cagr_pct": "CAGR %",
    "return_ann_pct": "Return (ann.) %",
    "volatility_pct": "Volatility (ann.) %",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "calmar": "Calmar",
    "max_drawdown_pct": "Max drawdown %",
    "max_drawdown_bars": "Max drawdown duration (bars)",
    "max_drawdown_days": "Max drawdown duration (days)",
    "trades": "# Trades",
    "win_rate_pct": "Win rate %",
    "best_trade_pct": "Best trade %",
    "worst_trade_pct": "Worst trade %",
    "profit_factor": "Profit factor",
    "expectancy_pct": "Expectancy %",
    "exposure_pct": "Exposure %",
    "fees": "Fees",
}
"""Every numeric key of :func:`compute_stats` and its label in reports (the issue's names)."""

UNDEFINED = "undefined"
"""The key of :func:`compute_stats`'s ``{stat: reason}`` for the statistics without a value."""


def _periods_per_year(ts: np.ndarray, period: float) -> tuple[float, bool]:
    """(periods per year, resample to days?) from the median bar spacing ``period`` (ns)."""
    if len(ts) < 2:
        return 252.0, False
    days = period / DAY_NS
    if days < 1:
        return _trading_days(ts[_last_of_day(ts, DAY_NS)]), True  # weekdays of the days
    if round(days) == 7:
        return 52.0, False
    if 28 <= days <= 31:
        return 12.0, False
    if 360 <= days <= 366:
        return 1.0, False
    if round(days) == 1:
        return _trading_days(ts), False
    return YEAR_NS / period, False


@njit(cache=True)
def drawdown_curve(equity: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """``1 - equity / running peak`` per bar (0 where the peak is not positive)."""
    out = np.empty(len(equity))
    peak = -np.inf
    for i in range(len(equity)):
        peak = max(peak, equity[i])
        out[i] = 1.0 - equity[i] / peak if peak > 0 else 0.0
    return out


@njit(cache=True)
def _longest_run(dd: np.ndarray) -> int:  # pragma: no cover - compiled
    longest = run = 0
    for x in dd:
        run = run + 1 if x > 0 else 0
        longest = max(longest, run)
    return longest


@njit(cache=True)
def _longest_drawdown_ns(dd: np.ndarray, ts: np.ndarray) -> int:  # pragma: no cover - compiled
    """The longest time from a peak to its recovery, or to the last bar when none came
    (backtesting.py's drawdown duration: a drawdown holds at least one bar below the peak)."""
    longest = 0
    peak = 0
    for i in range(len(dd)):
        if dd[i] <= 0:
            if i > peak + 1:
                longest = max(longest, ts[i] - ts[peak])
            peak = i
    last = len(dd) - 1
    if last > peak + 1:
        longest = max(longest, ts[last] - ts[peak])
    return longest


@njit(cache=True)
def _last_of_day(ts: np.ndarray, day_ns: int) -> np.ndarray:  # pragma: no cover - compiled
    """Index of the last bar of each UTC day (``ts`` sorted): one division per day."""
    out = np.empty(len(ts), dtype=np.int64)
    k = 0
    if len(ts) == 0:
        return out[:0]
    boundary = (ts[0] // day_ns + 1) * day_ns
    for i in range(1, len(ts)):
        if ts[i] >= boundary:
            out[k] = i - 1
            k += 1
            boundary = (ts[i] // day_ns + 1) * day_ns
    out[k] = len(ts) - 1
    return out[: k + 1]


@njit(cache=True)
def _held_bars(n: int, entry: np.ndarray, exit_: np.ndarray, open_entry: np.ndarray) -> int:
    held = np.zeros(n + 1, dtype=np.int64)
    for k in range(len(entry)):
        held[entry[k]] += 1
        held[exit_[k] + 1] -= 1
    for k in range(len(open_entry)):
        held[open_entry[k]] += 1
    count = level = 0
    for i in range(n):
        level += held[i]
        count += level > 0
    return count


def _trading_days(ts: np.ndarray) -> float:
    weekday = ((ts // DAY_NS) + 3) % 7  # 0 = Monday; 1970-01-01 was a Thursday
    weekend_share = float(np.mean(weekday >= 5))
    return 365.0 if weekend_share > 2 / 7 * 0.6 else 252.0


def _period_returns(equity: np.ndarray, ts: np.ndarray, daily: bool) -> np.ndarray:
    if daily:
        equity = equity[_last_of_day(ts, DAY_NS)]
    if len(equity) < 2:
        return np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = equity[1:] / equity[:-1] - 1
    return r[np.isfinite(r)]


def geometric_mean(returns: np.ndarray) -> float:
    g = returns + 1
    if len(g) == 0 or np.any(g <= 0):
        return 0.0
    return float(np.exp(np.log(g).sum() / len(g)) - 1)


def _nan_div(a: float, b: float) -> float:
    return a / b if b and math.isfinite(b) else math.nan


def _power(base: float, exponent: float) -> float:
    """``base ** exponent`` (``base`` > 0), infinite where it passes a float's range."""
    try:
        return float(base) ** float(exponent)
    except OverflowError:
        return math.inf


def compute_stats(
    *,
    equity: np.ndarray,
    ts: np.ndarray,
    close: np.ndarray,
    trades: pl.DataFrame,
    open_entry_bars: np.ndarray | None = None,
    warmup: int = 0,
    drawdown: np.ndarray | None = None,
) -> dict[str, Any]:
    """Every key of :data:`STAT_LABELS`, and :data:`UNDEFINED`: ``{key: reason}`` for each of
    them that is NaN. ``drawdown`` (1 - equity / running peak) is computed when not given."""
    n = len(equity)
    spacing = np.diff(ts)
    # the median bar spacing; on long series from an even sample of 100k spacings
    bar_ns = float(np.median(spacing[:: max(1, len(spacing) // 100_000)])) if n > 1 else 0.0
    out: dict[str, Any] = {"start": int(ts[0]), "end": int(ts[-1]), "bars": n}
    out["equity_final"] = float(equity[-1])
    out["equity_peak"] = float(equity.max())
    out["return_pct"] = (equity[-1] - equity[0]) / equity[0] * 100
    first = min(max(warmup - 1, 0), n - 1)
    out["buy_hold_pct"] = (close[-1] - close[first]) / close[first] * 100

    per_year, daily = _periods_per_year(ts, bar_ns)
    r = _period_returns(equity, ts, daily)
    g = geometric_mean(r)
    ann = _power(1 + g, per_year) - 1 if len(r) else math.nan
    var = float(np.var(r, ddof=1)) if len(r) > 1 else math.nan
    second = _power(var + (1 + g) ** 2, per_year) - _power(1 + g, 2 * per_year)
    vol = math.nan if math.isnan(second) else math.sqrt(max(second, 0.0))
    years = (ts[-1] - ts[0]) / YEAR_NS if n > 1 else 0.0
    out["cagr_pct"] = (
        (_power(equity[-1] / equity[0], 1 / years) - 1) * 100
        if years > 0 and equity[-1] > 0
        else math.nan
    )
    out["return_ann_pct"] = ann * 100
    out["volatility_pct"] = vol * 100
    out["sharpe"] = _nan_div(ann * 100, vol * 100)
    downside = math.sqrt(float(np.mean(np.minimum(r, 0) ** 2))) if len(r) else math.nan
    out["sortino"] = _nan_div(ann, downside * math.sqrt(per_year))

    dd = drawdown_curve(equity) if drawdown is None else drawdown
    max_dd = float(dd.max()) if n else 0.0
    out["calmar"] = _nan_div(ann, max_dd)
    out["max_drawdown_pct"] = -max_dd * 100
    out["max_drawdown_bars"] = int(_longest_run(dd))
    out["max_drawdown_days"] = _longest_drawdown_ns(dd, ts.astype(np.int64)) / DAY_NS

    pnl = trades["pnl"].to_numpy()
    ret = trades["return_pct"].to_numpy() / 100
    k = len(pnl)
    out["trades"] = k
    out["win_rate_pct"] = float((pnl > 0).mean() * 100) if k else math.nan
    out["best_trade_pct"] = float(ret.max() * 100) if k else math.nan
    out["worst_trade_pct"] = float(ret.min() * 100) if k else math.nan
    out["profit_factor"] = _nan_div(float(ret[ret > 0].sum()), abs(float(ret[ret < 0].sum())))
    out["expectancy_pct"] = float(ret.mean() * 100) if k else math.nan

    opened = np.zeros(0, np.int64) if open_entry_bars is None else open_entry_bars
    held = _held_bars(
        n,
        trades["entry_bar"].to_numpy().astype(np.int64),
        trades["exit_bar"].to_numpy().astype(np.int64),
        np.asarray(opened, dtype=np.int64),
    )
    out["exposure_pct"] = held / n * 100
    out["fees"] = float(trades["fees"].sum()) if k else 0.0
    stats = {key: (float(v) if isinstance(v, np.floating) else v) for key, v in out.items()}
    why = _reasons(
        periods=len(r) + 1,
        unit="day" if daily else "bar",
        stats=stats,
        flat=k == 0 and held == 0,
        downside=downside,
        max_dd=max_dd,
        still_open=len(opened),
    )
    undefined: dict[str, str] = {}
    for key, value in stats.items():
        if isinstance(value, float) and not math.isfinite(value):
            stats[key] = math.nan
            undefined[key] = why.get(key, "undefined")
    stats[UNDEFINED] = undefined
    return stats


def _reasons(
    *,
    periods: int,
    unit: str,
    stats: dict[str, Any],
    flat: bool,
    downside: float,
    max_dd: float,
    still_open: int,
) -> dict[str, str]:
    """Why each statistic would have no value, for those :func:`compute_stats` left undefined."""

    def few(needed: int) -> str:
        return f"too few bars ({periods} {unit}{'' if periods == 1 else 's'}; needs {needed})"

    short = "too short a sample to annualise"
    why = {
        "return_ann_pct": few(2) if periods < 2 else short,
        "volatility_pct": few(3) if periods < 3 else short,
        "cagr_pct": (
            few(2)
            if stats["bars"] < 2 or stats["start"] == stats["end"]
            else "equity wiped out"
            if stats["equity_final"] <= 0
            else short
        ),
        "buy_hold_pct": "no positive close to start from",
    }
    annual = why["return_ann_pct"] if not math.isfinite(stats["return_ann_pct"]) else None
    volatile = why["volatility_pct"] if not math.isfinite(stats["volatility_pct"]) else None
    quiet = "no trades" if flat else None
    why["sharpe"] = (
        annual
        or volatile
        or quiet
        or ("zero volatility" if stats["volatility_pct"] == 0 else short)
    )
    why["sortino"] = annual or quiet or ("no losing periods" if downside == 0 else short)
    why["calmar"] = annual or quiet or ("no drawdown" if max_dd == 0 else short)
    none = "no closed trades" + (f" ({still_open} still open)" if still_open else "")
    for key in ("win_rate_pct", "best_trade_pct", "worst_trade_pct", "expectancy_pct"):
        why[key] = none
    why["profit_factor"] = none if stats["trades"] == 0 else "no losing trades"
    return why
