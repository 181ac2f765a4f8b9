"""Positions and P&L from fills: average price, realized and unrealized P&L, fees, equity.

Average-cost accounting on signed quantities (positive long, negative short). A fill that
crosses through zero closes the old position at its average price and opens the remainder at
the fill price. Realized P&L is gross; fees are kept apart so ``net = realized - fees``.
Everything stays ``Decimal`` (the values come from brokers); conversion to the account
currency uses live rates and returns floats for display and risk. Backtests use the same
:class:`Portfolio`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from engine.model import Fill, Instrument, ModelError, Position

ZERO = Decimal(0)


def fee_in_quote(fill: Fill, instrument: Instrument | None) -> Decimal:
    """The fill's fee in the quote currency (a fee charged in the base asset is valued at the
    fill price; Binance charges buys in the base asset)."""
    if instrument is not None and fill.fee_ccy and fill.fee_ccy == instrument.base_ccy:
        return fill.fee * fill.price
    return fill.fee


def apply_fill(
    position: Position | None, fill: Fill, venue: str, instrument: Instrument | None = None
) -> Position:
    """The position after ``fill``; ``position`` None means flat."""
    if fill.qty <= 0 or fill.price <= 0:
        raise ModelError(f"fill {fill.fill_id or fill.client_id}: qty and price must be positive")
    pos = position or Position(fill.symbol, ZERO, ZERO, venue)
    q0, a0 = pos.qty, pos.avg_price
    dq = fill.side.sign * fill.qty
    q1 = q0 + dq
    realized = pos.realized_pnl
    if q0 == 0 or (q0 > 0) == (dq > 0):
        avg = (abs(q0) * a0 + abs(dq) * fill.price) / abs(q1)
    else:
        closed = min(abs(dq), abs(q0))
        realized += closed * (fill.price - a0) * (1 if q0 > 0 else -1)
        if q1 == 0:
            avg = ZERO
        elif (q1 > 0) == (q0 > 0):
            avg = a0
        else:
            avg = fill.price
    return replace(
        pos,
        qty=q1,
        avg_price=avg,
        realized_pnl=realized,
        fees=pos.fees + fee_in_quote(fill, instrument),
    )


def unrealized_pnl(position: Position, mark: float) -> float:
    """Open P&L at ``mark`` in the quote currency."""
    if position.qty == 0:
        return 0.0
    return float(position.qty) * (mark - float(position.avg_price))


def fx_rate(from_ccy: str, to_ccy: str, rates: Mapping[str, float]) -> float:
    """Units of ``to_ccy`` per unit of ``from_ccy`` from pair quotes like ``{"EUR/USD": 1.08}``.

    Tries the direct pair, its inverse, then one hop through any currency both legs quote.
    Raises KeyError with the missing pair named, never guesses 1.0.
    """
    if from_ccy == to_ccy:
        return 1.0
    direct = rates.get(f"{from_ccy}/{to_ccy}")
    if direct:
        return float(direct)
    inverse = rates.get(f"{to_ccy}/{from_ccy}")
    if inverse:
        return 1.0 / float(inverse)
    legs: dict[str, float] = {}
    for pair, rate in rates.items():
        base, _, quote = pair.partition("/")
        if rate and base == from_ccy:
            legs[quote] = float(rate)
        elif rate and quote == from_ccy:
            legs[base] = 1.0 / float(rate)
    for mid, first in legs.items():
        second = rates.get(f"{mid}/{to_ccy}")
        if second:
            return first * float(second)
        second = rates.get(f"{to_ccy}/{mid}")
        if second:
            return first / float(second)
    raise KeyError(f"no rate to convert {from_ccy} to {to_ccy}")


@dataclass(slots=True)
class Portfolio:
    """Positions per (venue, symbol) plus cash per currency; fed with fills, marked with prices."""

    account_ccy: str = "USD"
    cash: dict[str, Decimal] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    instruments: dict[str, Instrument] = field(default_factory=dict)

    def apply(self, fill: Fill, venue: str) -> Position:
        inst = self.instruments.get(fill.symbol)
        key = (venue, fill.symbol)
        pos = apply_fill(self.positions.get(key), fill, venue, inst)
        self.positions[key] = pos
        ccy = inst.quote_ccy if inst else self.account_ccy
        flow = -fill.side.sign * fill.qty * fill.price - fee_in_quote(fill, inst)
        self.cash[ccy] = self.cash.get(ccy, ZERO) + flow
        return pos

    def apply_all(self, fills: Iterable[Fill], venue: str) -> None:
        for f in fills:
            self.apply(f, venue)

    def _quote_ccy(self, symbol: str) -> str:
        inst = self.instruments.get(symbol)
        return inst.quote_ccy if inst else self.account_ccy

    def unrealized(self, marks: Mapping[str, float], rates: Mapping[str, float]) -> float:
        total = 0.0
        for (_, symbol), pos in self.positions.items():
            if pos.qty != 0:
                fx = fx_rate(self._quote_ccy(symbol), self.account_ccy, rates)
                total += unrealized_pnl(pos, marks[symbol]) * fx
        return total

    def realized(self, rates: Mapping[str, float]) -> float:
        return sum(
            float(p.realized_pnl - p.fees) * fx_rate(self._quote_ccy(s), self.account_ccy, rates)
            for (_, s), p in self.positions.items()
        )

    def equity(self, marks: Mapping[str, float], rates: Mapping[str, float]) -> float:
        """Cash plus the market value of every position, in the account currency."""
        total = sum(
            float(amount) * fx_rate(ccy, self.account_ccy, rates)
            for ccy, amount in self.cash.items()
        )
        for (_, symbol), pos in self.positions.items():
            if pos.qty != 0:
                fx = fx_rate(self._quote_ccy(symbol), self.account_ccy, rates)
                total += float(pos.qty) * marks[symbol] * fx
        return total

    def exposures(self, marks: Mapping[str, float], rates: Mapping[str, float]) -> dict[str, float]:
        """Signed notional per symbol in the account currency (input to VaR)."""
        out: dict[str, float] = {}
        for (_, symbol), pos in self.positions.items():
            if pos.qty != 0:
                fx = fx_rate(self._quote_ccy(symbol), self.account_ccy, rates)
                out[symbol] = out.get(symbol, 0.0) + float(pos.qty) * marks[symbol] * fx
        return out
