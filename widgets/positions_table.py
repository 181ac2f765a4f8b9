"""Open positions with live unrealized P&L (marked at the latest quote's mid) and the stop-loss
and take-profit levels their protective orders work at."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal

from rich.text import Text
from textual.widgets import DataTable

from engine.model import Order, OrderType, Position
from widgets.prices import price_text


def unrealized(position: Position, mark: float) -> float:
    if not math.isfinite(mark):
        return math.nan
    return float(position.qty) * (mark - float(position.avg_price))


def levels_text(levels: Sequence[Decimal]) -> str:
    """The first distinct level, exact, and how many others there are (``63,500.0 +1``);
    ``—`` for none."""
    distinct = list(dict.fromkeys(levels))
    if not distinct:
        return "—"
    more = f" +{len(distinct) - 1}" if len(distinct) > 1 else ""
    return f"{distinct[0]:,f}{more}"


def protection(position: Position, orders: Sequence[Order]) -> tuple[list[Decimal], list[Decimal]]:
    """The stop-loss (stop trigger) and take-profit (limit) levels of ``orders`` that close
    ``position``: same symbol, the other side, not final."""
    closing = "sell" if position.qty > 0 else "buy"
    sl: list[Decimal] = []
    tp: list[Decimal] = []
    for o in orders:
        if o.symbol != position.symbol or o.side.value != closing or o.status.is_final:
            continue
        if o.type is OrderType.STOP and o.stop is not None:
            sl.append(o.stop)
        elif o.type is OrderType.LIMIT and o.price is not None:
            tp.append(o.price)
    return sl, tp


class PositionsTable(DataTable[Text | str]):
    DEFAULT_CSS = "PositionsTable { height: 1fr; }"

    def __init__(self, decimals: Mapping[str, int] | None = None, **kwargs: object) -> None:
        """``decimals``: price decimals per symbol, read at each mark (a mapping its owner
        keeps up to date as precision is learnt)."""
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.decimals: Mapping[str, int] = {} if decimals is None else decimals
        self.positions: dict[str, Position] = {}
        self.marks: dict[str, float] = {}

    def on_mount(self) -> None:
        columns = (
            ("symbol", "Symbol", 9), ("qty", "Qty", 12), ("avg", "Avg", 11),
            ("mark", "Mark", 11), ("sl", "SL", 11), ("tp", "TP", 11),
            ("upnl", "Unreal P&L", 12), ("rpnl", "Real P&L", 11),
        )  # fmt: skip
        for key, label, width in columns:
            self.add_column(label, key=key, width=width)

    def set_positions(
        self, positions: Sequence[Position], protective: Sequence[Order] = ()
    ) -> None:
        """``protective``: the working stop-loss and take-profit orders (the caller tells
        them from other orders); each position shows those that close it."""
        self.positions = {p.symbol: p for p in positions if p.qty != 0}
        self.clear()
        for symbol, p in self.positions.items():
            sl, tp = protection(p, protective)
            self.add_row(
                symbol, Text(f"{p.qty:f}", justify="right"),
                Text(f"{p.avg_price:,f}", justify="right"), Text("—", justify="right"),
                Text(levels_text(sl), justify="right"), Text(levels_text(tp), justify="right"),
                Text("—", justify="right"),
                Text(f"{p.realized_pnl:,.2f}", justify="right"), key=symbol,
            )  # fmt: skip
            if symbol in self.marks:
                self.update_mark(symbol, self.marks[symbol])

    def update_mark(self, symbol: str, mark: float) -> None:
        self.marks[symbol] = mark
        position = self.positions.get(symbol)
        if position is None:
            return
        pnl = unrealized(position, mark)
        style = "green" if pnl > 0 else "red" if pnl < 0 else ""
        mark_text = price_text(mark, self.decimals.get(symbol))
        self.update_cell(symbol, "mark", Text(mark_text, justify="right"))
        self.update_cell(symbol, "upnl", Text(f"{pnl:,.2f}", style=style, justify="right"))
