"""The signals feed: newest at the bottom (the cursor follows it), bounded; each row says
action, confidence and why. Prices show at their symbol's precision (its tick's decimals)."""

from __future__ import annotations

import time
from collections.abc import Mapping

from rich.text import Text
from textual.widgets import DataTable

from engine.model import Action, Signal
from widgets.prices import price_text

MAX_ROWS = 200
_ACTION_STYLE = {
    Action.OPEN_LONG: "green",
    Action.OPEN_SHORT: "red",
    Action.CLOSE: "yellow",
    Action.WAIT: "dim",
}


class SignalsFeed(DataTable[Text | str]):
    DEFAULT_CSS = "SignalsFeed { height: 1fr; }"

    def __init__(self, decimals: Mapping[str, int] | None = None, **kwargs: object) -> None:
        """``decimals``: price decimals per symbol, read at each row (a mapping its owner
        updates as it learns a venue's precision is seen here too)."""
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.decimals: Mapping[str, int] = {} if decimals is None else decimals
        self.count = 0

    def on_mount(self) -> None:
        for label, width in (("Time", 8), ("Symbol", 9), ("TF", 3), ("Action", 10),
                             ("Conf", 5), ("Price", 11), ("Why", 40)):  # fmt: skip
            self.add_column(label, width=width)

    def add_signal(self, signal: Signal) -> None:
        self.count += 1
        stamp = time.strftime("%H:%M:%S", time.gmtime(signal.ts_ns / 1e9))
        self.add_row(
            stamp,
            signal.symbol,
            signal.timeframe,
            Text(signal.action.value, style=_ACTION_STYLE[signal.action]),
            Text(f"{signal.confidence:.2f}", justify="right"),
            Text(price_text(signal.price, self.decimals.get(signal.symbol)), justify="right"),
            "; ".join(signal.reasons),
            key=f"sig{self.count}",
        )
        while self.row_count > MAX_ROWS:
            self.remove_row(self.ordered_rows[0].key)
        self.move_cursor(row=self.row_count - 1)
