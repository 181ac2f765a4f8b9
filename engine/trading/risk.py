"""Risk: position sizing, pre-trade checks and historical VaR/CVaR. Pure functions, no I/O.

Sizing and checks work in the instrument's quote currency unless a ``quote_to_account`` rate is
given; the caller converts with live rates (see :func:`engine.trading.portfolio.fx_rate`).
A rejected check always carries a reason a user can act on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from engine.model import Instrument, ModelError, Order, OrderType, Side

NS_PER_MINUTE = 60_000_000_000


class RiskError(ValueError):
    """Sizing inputs that cannot produce a position (stop on the wrong side, no equity, ...)."""


def fixed_fraction_size(
    equity: float, risk_fraction: float, entry: float, stop: float, quote_to_account: float = 1.0
) -> float:
    """Quantity whose loss at ``stop`` equals ``risk_fraction`` of ``equity`` (account ccy)."""
    if not (equity > 0 and 0 < risk_fraction <= 1):
        raise RiskError(
            f"need equity > 0 and 0 < risk fraction <= 1, got {equity}, {risk_fraction}"
        )
    distance = abs(entry - stop) * quote_to_account
    if not math.isfinite(distance) or distance <= 0:
        raise RiskError(f"stop {stop} must differ from entry {entry}")
    return equity * risk_fraction / distance


def atr_stop(entry: float, atr: float, multiple: float, side: Side) -> float:
    """Stop ``multiple`` ATRs away from ``entry``, below a long and above a short."""
    if not (atr > 0 and multiple > 0):
        raise RiskError(f"ATR and multiple must be positive, got {atr}, {multiple}")
    return entry - side.sign * multiple * atr


def kelly_fraction(win_rate: float, payoff_ratio: float, cap: float) -> float:
    """Kelly bet ``p - (1 - p) / b`` clipped to ``[0, cap]`` (never negative, never above cap)."""
    if not 0 <= win_rate <= 1 or payoff_ratio <= 0:
        raise RiskError(f"win rate in [0,1] and payoff > 0 needed, got {win_rate}, {payoff_ratio}")
    raw = win_rate - (1.0 - win_rate) / payoff_ratio
    return float(min(max(raw, 0.0), cap))


def size_order(
    instrument: Instrument,
    equity: float,
    risk_fraction: float,
    entry: float,
    stop: float,
    quote_to_account: float = 1.0,
) -> Decimal:
    """Fixed-fraction size rounded *down* to the lot grid; 0 if below the minimum quantity."""
    qty = instrument.round_qty(
        fixed_fraction_size(equity, risk_fraction, entry, stop, quote_to_account)
    )
    return qty if qty >= instrument.min_qty and qty > 0 else Decimal(0)


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Pre-trade limits in account currency; ``inf`` disables a limit."""

    max_position_notional: float = math.inf
    max_total_exposure: float = math.inf
    max_order_notional: float = math.inf
    max_orders_per_minute: int = 1_000_000
    daily_loss_limit: float = math.inf


@dataclass(frozen=True, slots=True)
class RiskContext:
    """What the check needs to know about the account right now."""

    positions: Mapping[str, float] = field(default_factory=dict)  # signed qty per symbol
    marks: Mapping[str, float] = field(default_factory=dict)  # price per symbol (quote ccy)
    recent_orders_ns: Sequence[int] = ()
    daily_pnl: float = 0.0  # realized + unrealized since the start of the UTC day
    now_ns: int = 0
    quote_to_account: Mapping[str, float] = field(default_factory=dict)  # per symbol, default 1


@dataclass(frozen=True, slots=True)
class RiskDecision:
    ok: bool
    reason: str = ""
    trip_kill_switch: bool = False


def entry_price(order: Order, price: float, mark: float | None) -> float:
    """Where ``order`` opens: a marketable limit fills at the market, not at its limit."""
    if order.type is not OrderType.LIMIT or mark is None or not math.isfinite(mark):
        return price
    return min(price, mark) if order.side is Side.BUY else max(price, mark)


def protective_level_problem(
    side: Side,
    entry: float,
    sl: Decimal | None,
    tp: Decimal | None,
    instrument: Instrument,
    where: str = "the entry",
) -> str:
    """Why a stop-loss/take-profit of a ``side`` position at ``entry`` (named ``where``) would
    execute at once (it is at or beyond it on the wrong side), or "" when both are sound."""
    shown = f"{where} {instrument.format_price(entry)}"
    if sl is not None and side.sign * (float(sl) - entry) >= 0:
        beyond = "above" if side is Side.BUY else "below"
        return f"stop-loss {sl:f} is {beyond} {shown} of a {side}: it would fire at once"
    if tp is not None and side.sign * (float(tp) - entry) <= 0:
        beyond = "below" if side is Side.BUY else "above"
        return f"take-profit {tp:f} is {beyond} {shown} of a {side}: it would fill at once"
    return ""


def check_order(
    order: Order,
    instrument: Instrument,
    price: float,
    limits: RiskLimits,
    ctx: RiskContext,
    mark: float | None = None,
) -> RiskDecision:
    """Accept or reject ``order`` at the expected fill ``price`` (quote ccy), with the reason.

    ``mark`` (the market now) places the entry of a marketable limit order, for the check
    that its stop-loss and take-profit sit on the protective side of where it opens.
    Orders that only reduce a position pass the exposure limits (a limit must never stop a
    user from getting out), but not the kill-switch, rate and grid checks.
    """
    if ctx.daily_pnl <= -limits.daily_loss_limit:
        return RiskDecision(
            False,
            f"daily loss {-ctx.daily_pnl:,.2f} reached the limit {limits.daily_loss_limit:,.2f};"
            " kill switch tripped",
            trip_kill_switch=True,
        )
    window = [t for t in ctx.recent_orders_ns if ctx.now_ns - t < NS_PER_MINUTE]
    if len(window) >= limits.max_orders_per_minute:
        return RiskDecision(
            False, f"{len(window)} orders in the last minute (limit {limits.max_orders_per_minute})"
        )
    try:
        qty = instrument.check_qty(order.qty)
        if order.type is OrderType.LIMIT and order.price is not None:
            instrument.check_price(order.price)
        if order.stop is not None:
            instrument.check_price(order.stop)
        for bracket in (order.sl, order.tp):
            if bracket is not None:
                instrument.check_price(bracket)
    except ModelError as exc:
        return RiskDecision(False, str(exc))
    if not math.isfinite(price) or price <= 0:
        return RiskDecision(False, f"{order.symbol}: no usable price to value the order ({price})")
    if order.sl is not None or order.tp is not None:
        entry = entry_price(order, price, mark)
        problem = protective_level_problem(order.side, entry, order.sl, order.tp, instrument)
        if problem:
            return RiskDecision(False, problem)
    notional_quote = float(qty) * price
    if instrument.min_notional > 0 and notional_quote < float(instrument.min_notional):
        return RiskDecision(
            False,
            f"{order.symbol}: order notional {notional_quote:,.2f} {instrument.quote_ccy} is below"
            f" the minimum {instrument.min_notional}",
        )
    fx = ctx.quote_to_account.get(order.symbol, 1.0)
    notional = notional_quote * fx
    if notional > limits.max_order_notional:
        return RiskDecision(
            False,
            f"order notional {notional:,.2f} exceeds the limit {limits.max_order_notional:,.2f}",
        )
    current = ctx.positions.get(order.symbol, 0.0)
    after = current + order.side.sign * float(qty)
    if abs(after) <= abs(current) and after * current >= 0:
        return RiskDecision(True)
    position_notional = abs(after) * price * fx
    if position_notional > limits.max_position_notional:
        return RiskDecision(
            False,
            f"{order.symbol}: position would be {position_notional:,.2f}, above the per-symbol"
            f" limit {limits.max_position_notional:,.2f}",
        )
    exposure = position_notional
    for symbol, q in ctx.positions.items():
        if symbol != order.symbol:
            mark = ctx.marks.get(symbol, math.nan)
            if not math.isfinite(mark):
                return RiskDecision(False, f"no mark price for open position {symbol}")
            exposure += abs(q) * mark * ctx.quote_to_account.get(symbol, 1.0)
    if exposure > limits.max_total_exposure:
        return RiskDecision(
            False,
            f"total exposure would be {exposure:,.2f}, above the limit"
            f" {limits.max_total_exposure:,.2f}",
        )
    return RiskDecision(True)


def historical_var(returns: np.ndarray, level: float = 0.95) -> float:
    """Loss not exceeded with probability ``level`` (positive number; 0 if the tail gains)."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        raise RiskError("no returns to compute VaR from")
    return float(max(-np.quantile(r, 1.0 - level, method="lower"), 0.0))


def historical_cvar(returns: np.ndarray, level: float = 0.95) -> float:
    """Mean loss in the tail at or beyond the VaR quantile (expected shortfall)."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        raise RiskError("no returns to compute CVaR from")
    cut = np.quantile(r, 1.0 - level, method="lower")
    return float(max(-r[r <= cut].mean(), 0.0))


def portfolio_pnl(closes: Mapping[str, np.ndarray], exposures: Mapping[str, float]) -> np.ndarray:
    """Per-bar P&L of today's exposures (signed notional, account ccy) over the past bars.

    Series are aligned on their most recent bars (the shortest history wins).
    """
    used = [s for s, e in exposures.items() if e != 0]
    if not used:
        return np.zeros(0)
    missing = [s for s in used if s not in closes or len(closes[s]) < 2]
    if missing:
        raise RiskError(f"not enough bars for {', '.join(missing)}")
    n = min(len(closes[s]) for s in used)
    pnl = np.zeros(n - 1)
    for s in used:
        c = np.asarray(closes[s][-n:], dtype=np.float64)
        pnl += exposures[s] * (c[1:] / c[:-1] - 1.0)
    return pnl


def portfolio_var(
    closes: Mapping[str, np.ndarray],
    exposures: Mapping[str, float],
    levels: Sequence[float] = (0.95, 0.99),
) -> dict[float, tuple[float, float]]:
    """``{level: (VaR, CVaR)}`` in account currency for one bar ahead, historical simulation."""
    pnl = portfolio_pnl(closes, exposures)
    if pnl.size == 0:
        return {lv: (0.0, 0.0) for lv in levels}
    return {lv: (historical_var(pnl, lv), historical_cvar(pnl, lv)) for lv in levels}
