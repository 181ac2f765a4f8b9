"""The watchlist: symbol, last, change %, bid, ask, spread, a sparkline and the latest signal.

It only receives data: ``QuoteUpdated``, ``ReferencePrice`` and ``SignalRaised`` messages posted
to it, or the equivalent methods called by its screen. Prices are shown to each instrument's
precision. A changed last price flashes up/down for ``FLASH_S``; the sparkline keeps the last
``SPARK_POINTS`` prices per symbol in a ring buffer.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from engine.model import Action, Signal, Tick
from workstation.messages import QuoteUpdated, ReferencePrice, SignalRaised

COLUMNS = (
    ("symbol", "Symbol", 9),
    ("last", "Last", 11),
    ("chg", "Chg %", 7),
    ("spark", "Trend", 12),
    ("bid", "Bid", 11),
    ("ask", "Ask", 11),
    ("spread", "Sprd", 7),
    ("signal", "Signal", 12),
)
SORTABLE = ("symbol", "chg", "last", "spread")
FLASH_S = 0.6
SPARK_POINTS = 12
_SPARK = "▁▂▃▄▅▆▇█"
_SIGNAL = {Action.OPEN_LONG: ("LONG", "green"), Action.OPEN_SHORT: ("SHORT", "red"),
           Action.CLOSE: ("CLOSE", "yellow"), Action.WAIT: ("wait", "dim")}  # fmt: skip


def sparkline(values: Sequence[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    span = hi - lo
    if span <= 0:
        return _SPARK[3] * len(finite)
    return "".join(_SPARK[min(7, int((v - lo) / span * 8))] for v in finite)


class Watchlist(DataTable[Text | str]):
    DEFAULT_CSS = """
    Watchlist { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "cycle_sort", "Sort", id="watchlist.sort"),
    ]

    def __init__(
        self,
        symbols: Sequence[str],
        decimals: dict[str, int] | None = None,
        clock: object = time.monotonic,
        **kwargs: object,
    ) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.symbols = list(dict.fromkeys(symbols))
        self.decimals = decimals or {}
        self.reference: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.change: dict[str, float] = {}
        self.spreads: dict[str, float] = {}
        self.history: dict[str, deque[float]] = {}
        self.flashing: dict[str, float] = {}
        self.sort_key: str | None = None
        self.sort_reverse = False
        self.updates = 0
        self._now = clock

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)
        for symbol in self.symbols:
            self._add_row(symbol)
        self.set_interval(FLASH_S / 3, self._unflash)

    def _add_row(self, symbol: str) -> None:
        self.add_row(Text(symbol, style="bold"), *(["—"] * (len(COLUMNS) - 1)), key=symbol)

    # -- symbols ----------------------------------------------------------------------------
    def add_symbol(self, symbol: str, decimals: int | None = None) -> bool:
        if symbol in self.symbols:
            return False
        self.symbols.append(symbol)
        if decimals is not None:
            self.decimals[symbol] = decimals
        self._add_row(symbol)
        return True

    def remove_symbol(self, symbol: str) -> bool:
        if symbol not in self.symbols:
            return False
        self.symbols.remove(symbol)
        self.remove_row(symbol)
        for table in (self.last, self.reference, self.change, self.history, self.flashing):
            table.pop(symbol, None)  # type: ignore[attr-defined]
        return True

    def selected_symbol(self) -> str | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return str(row_key.value)

    def select_symbol(self, symbol: str) -> None:
        if symbol in self.symbols:
            self.move_cursor(row=self.get_row_index(symbol))

    # -- quotes -----------------------------------------------------------------------------
    def _fmt(self, symbol: str, price: float, style: str = "") -> Text:
        text = f"{price:,.{self.decimals.get(symbol, 2)}f}" if math.isfinite(price) else "—"
        return Text(text, style=style, justify="right")

    def update_quote(self, tick: Tick) -> None:
        symbol = tick.symbol
        if symbol not in self.symbols:
            return
        price = tick.last if math.isfinite(tick.last) else tick.mid
        prev = self.last.get(symbol, price)
        self.last[symbol] = price
        if price != prev:
            up = price > prev
            self.flashing[symbol] = self._now() + FLASH_S  # type: ignore[operator]
            style = "bold black on green" if up else "bold white on red"
            self.update_cell(symbol, "last", self._fmt(symbol, price, style))
        else:
            self.update_cell(symbol, "last", self._fmt(symbol, price))
        self.update_cell(symbol, "bid", self._fmt(symbol, tick.bid))
        self.update_cell(symbol, "ask", self._fmt(symbol, tick.ask))
        self.spreads[symbol] = tick.spread
        self.update_cell(symbol, "spread", self._fmt(symbol, tick.spread))
        ring = self.history.setdefault(symbol, deque(maxlen=SPARK_POINTS))
        if not ring or ring[-1] != price:
            ring.append(price)
            trend = "green" if ring[-1] >= ring[0] else "red"
            self.update_cell(symbol, "spark", Text(sparkline(ring), style=trend))
        ref = self.reference.get(symbol)
        if ref:
            chg = (price / ref - 1.0) * 100.0
            self.change[symbol] = chg
            colour = "green" if chg > 0 else "red" if chg < 0 else ""
            self.update_cell(symbol, "chg", Text(f"{chg:+.2f}%", style=colour, justify="right"))
        self.updates += 1

    def _unflash(self) -> None:
        now = self._now()  # type: ignore[operator]
        for symbol, until in list(self.flashing.items()):
            if until <= now:
                del self.flashing[symbol]
                if symbol in self.last:
                    self.update_cell(symbol, "last", self._fmt(symbol, self.last[symbol]))

    def set_signal(self, signal: Signal) -> None:
        if signal.symbol not in self.symbols:
            return
        word, style = _SIGNAL[signal.action]
        self.update_cell(signal.symbol, "signal", Text(f"{word} {signal.confidence:.2f}", style))

    # -- sorting ----------------------------------------------------------------------------
    def action_cycle_sort(self) -> None:
        """symbol ↑ -> chg ↓ -> last ↓ -> spread ↑ -> symbol ↑ ..."""
        order = [("symbol", False), ("chg", True), ("last", True), ("spread", False)]
        current = (self.sort_key or "symbol", self.sort_reverse)
        i = order.index(current) if current in order else -1
        key, reverse = order[(i + 1) % len(order)]
        self.sort_by(key, reverse)

    def sort_by(self, key: str, reverse: bool = False) -> None:
        values = {"chg": self.change, "last": self.last, "spread": self.spreads}.get(key)

        def value(symbol_cell: object) -> object:
            symbol = symbol_cell.plain if isinstance(symbol_cell, Text) else str(symbol_cell)
            if values is None:
                return symbol
            v = values.get(symbol, math.nan)
            return (math.isfinite(v) == reverse, v if math.isfinite(v) else 0.0)

        self.sort_key, self.sort_reverse = key, reverse
        self.sort("symbol", key=value, reverse=reverse)

    @on(QuoteUpdated)
    def _on_quote(self, message: QuoteUpdated) -> None:
        self.update_quote(message.tick)

    @on(ReferencePrice)
    def _on_reference(self, message: ReferencePrice) -> None:
        self.reference[message.symbol] = message.price

    @on(SignalRaised)
    def _on_signal(self, message: SignalRaised) -> None:
        self.set_signal(message.signal)
