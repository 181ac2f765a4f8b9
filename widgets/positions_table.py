"""Open positions with live unrealized P&L (marked at the latest quote's mid)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from engine.model import Position


def unrealized(position: Position, mark: float) -> float:
    if not math.isfinite(mark):
        return math.nan
    return float(position.qty) * (mark - float(position.avg_price))


class PositionsTable(DataTable[Text | str]):
    DEFAULT_CSS = "PositionsTable { height: 1fr; }"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.positions: dict[str, Position] = {}
        self.marks: dict[str, float] = {}

    def on_mount(self) -> None:
        columns = (
            ("symbol", "Symbol", 9), ("qty", "Qty", 12), ("avg", "Avg", 11),
            ("mark", "Mark", 11), ("upnl", "Unreal P&L", 12), ("rpnl", "Real P&L", 11),
        )  # fmt: skip
        for key, label, width in columns:
            self.add_column(label, key=key, width=width)

    def set_positions(self, positions: Sequence[Position]) -> None:
        self.positions = {p.symbol: p for p in positions if p.qty != 0}
        self.clear()
        for symbol, p in self.positions.items():
            self.add_row(
                symbol, Text(f"{p.qty:f}", justify="right"),
                Text(f"{p.avg_price:f}", justify="right"), Text("—", justify="right"),
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
        self.update_cell(symbol, "mark", Text(f"{mark:,.6g}", justify="right"))
        self.update_cell(symbol, "upnl", Text(f"{pnl:,.2f}", style=style, justify="right"))
