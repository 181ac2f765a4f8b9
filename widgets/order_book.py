"""The order book ladder: asks above, bids below, a depth bar per level (size share of the side).

Its screen picks the symbol (``show_symbol``) and hands it books (``set_book``); a book for any
other symbol is ignored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from engine.model import OrderBook

_EIGHTHS = " ▏▎▍▌▋▊▉█"
SIZE_DIGITS = 15
"""Significant digits a size is shown with: the most a float keeps of any decimal (``DBL_DIG``),
so every digit a venue sent and none of a float's noise (``0.015330000000000001`` is
``0.01533``)."""


def size_text(size: float) -> str:
    """A level's size as a plain number with thousands separators (``67,000``, ``0.0153``)."""
    value = Decimal(f"{size:.{SIZE_DIGITS}g}").normalize()
    return f"{value:,f}"


def depth_bar(share: float, width: int) -> str:
    """A left-aligned bar ``share`` (0..1) of ``width`` cells, eighth-cell resolution."""
    eighths = max(0, min(width * 8, round(share * width * 8)))
    full, part = divmod(eighths, 8)
    return ("█" * full + (_EIGHTHS[part] if part else "")).ljust(width)


class OrderBookLadder(Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"book--bid", "book--ask", "book--spread"}
    DEFAULT_CSS = """
    OrderBookLadder { height: 1fr; }
    OrderBookLadder > .book--bid { color: $success; }
    OrderBookLadder > .book--ask { color: $error; }
    OrderBookLadder > .book--spread { color: $text-muted; text-style: italic; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.symbol = ""
        self.decimals = 2
        self.book: OrderBook | None = None
        self.updates = 0
        self.absent = ""
        """Why no book will come (a feed without depth); empty while one may come."""

    def show_symbol(self, symbol: str, decimals: int) -> None:
        if symbol != self.symbol:
            self.symbol, self.decimals, self.book = symbol, decimals, None
            self.refresh()

    def no_depth(self, reason: str) -> None:
        """Say ``reason`` instead of waiting: this feed publishes no book."""
        self.absent = reason
        self.refresh()

    def set_book(self, book: OrderBook) -> None:
        if book.symbol != self.symbol:
            return
        self.book = book
        self.updates += 1
        self.refresh()

    def render(self) -> Text:
        book = self.book
        if book is None:
            waiting = self.absent or "waiting for depth…"
            return Text(f"{self.symbol or 'no symbol'}: {waiting}", style="dim")
        width = max(20, self.size.width)
        depth = max(1, (self.size.height - 2) // 2)
        asks, bids = book.asks[:depth], book.bids[:depth]
        peak = max([lv.size for lv in asks + bids] or [1.0]) or 1.0
        d = self.decimals
        price_w = max(len(f"{lv.price:,.{d}f}") for lv in asks + bids) if asks or bids else 8
        size_w = max([10] + [len(size_text(lv.size)) for lv in asks + bids])
        bar_w = max(1, width - price_w - size_w - 2)
        ask_style = self.get_component_rich_style("book--ask", partial=True)
        bid_style = self.get_component_rich_style("book--bid", partial=True)
        out = Text(no_wrap=True, overflow="crop")
        out.append(f"{'price':>{price_w}} {'size':>{size_w}} depth\n", Style(dim=True))
        for lv in reversed(asks):
            self._line(out, lv.price, lv.size, peak, price_w, size_w, bar_w, ask_style)
        if asks and bids:
            spread = asks[0].price - bids[0].price
            mid = (asks[0].price + bids[0].price) / 2
            label = f"spread {spread:,.{d}f}"
            if width >= price_w + size_w + 24:
                label += f"  mid {mid:,.{d}f}"
            out.append(
                f"{label:>{price_w + size_w + 1}}\n",
                self.get_component_rich_style("book--spread", partial=True),
            )
        for lv in bids:
            self._line(out, lv.price, lv.size, peak, price_w, size_w, bar_w, bid_style)
        return out

    def _line(
        self,
        out: Text,
        price: float,
        size: float,
        peak: float,
        price_w: int,
        size_w: int,
        bar_w: int,
        style: Style,
    ) -> None:
        out.append(f"{price:>{price_w},.{self.decimals}f}", style)
        out.append(f" {size_text(size):>{size_w}} ")
        out.append(depth_bar(size / peak, bar_w) + "\n", style + Style(dim=True))
