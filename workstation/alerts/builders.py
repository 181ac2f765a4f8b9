"""The alerts qws relays, built from what happened: a signal, a fill, a rejected order, a risk
event. Pure functions; :class:`workstation.alerts.relay.Outbox` queues and delivers them."""

from __future__ import annotations

from typing import Any

from engine.model import Alert, Fill, Instrument, Order, Severity, Signal


def signal_alert(signal: Signal, instrument: Instrument | None = None) -> Alert:
    data: dict[str, Any] = {
        "timeframe": signal.timeframe,
        "action": str(signal.action),
        "confidence": round(signal.confidence, 4),
        "price": signal.price,
        "reasons": list(signal.reasons),
    }
    if instrument is not None:
        data["price_decimals"] = instrument.price_decimals
    if signal.evidence is not None:
        data["evidence"] = signal.evidence.text()
        data["model_version"] = signal.evidence.version
    if signal.cycle is not None:
        data["period_bars"] = signal.cycle.period_bars
        data["cycle_strength"] = round(signal.cycle.strength, 4)
    return Alert(
        "signal",
        f"{signal.action} {signal.symbol}",
        "",
        signal.ts_ns,
        Severity.INFO,
        signal.symbol,
        data,
    )


def fill_alert(fill: Fill, instrument: Instrument | None = None) -> Alert:
    data: dict[str, Any] = {
        "side": str(fill.side),
        "qty": str(fill.qty),
        "price": str(fill.price),
        "fill_id": fill.fill_id,  # two fills alike (a close and a reversal) are two alerts
    }
    if instrument is not None:
        data["price_decimals"] = instrument.price_decimals
    body = f"fee {fill.fee_text}" if fill.fee else ""
    return Alert(
        "fill",
        f"Filled {fill.side} {fill.symbol}",
        body,
        fill.ts_ns,
        symbol=fill.symbol,
        data=data,
    )


def rejection_alert(order: Order, ts_ns: int, instrument: Instrument | None = None) -> Alert:
    data: dict[str, Any] = {
        "side": str(order.side),
        "qty": str(order.qty),
        "client_id": order.client_id,
    }
    if order.price is not None:
        data["price"] = str(order.price)
    if instrument is not None:
        data["price_decimals"] = instrument.price_decimals
    return Alert(
        "rejection",
        f"Order rejected: {order.side} {order.symbol}",
        order.reason or "no reason given",
        ts_ns,
        Severity.WARNING,
        order.symbol,
        data,
    )


def risk_alert(title: str, body: str, ts_ns: int) -> Alert:
    return Alert("risk", title, body, ts_ns, Severity.CRITICAL)


def sentiment_alert(
    symbol: str, before: float, after: float, window_s: float, headline: str, ts_ns: int
) -> Alert:
    """A symbol's news sentiment moved from ``before`` (``window_s`` ago) to ``after`` (now);
    ``headline``: the newest item behind it. One alert per symbol and direction: the title
    names both, the numbers are in the body."""
    direction = "up" if after >= before else "down"
    hours = window_s / 3600.0
    return Alert(
        "sentiment",
        f"News sentiment swings {direction}: {symbol}",
        f"{before:+.2f} -> {after:+.2f} in {hours:g} h; latest: {headline}",
        ts_ns,
        Severity.WARNING,
        symbol,
        {"direction": direction, "before": round(before, 4), "after": round(after, 4)},
    )
