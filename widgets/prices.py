"""A price as the desk shows it: at its symbol's precision (its tick's decimals), never rounded
further; with no known precision, every digit the float holds."""

from __future__ import annotations

import math
from decimal import Decimal


def price_text(price: float, decimals: int | None) -> str:
    """``price`` at ``decimals`` places; with no known precision, every digit of the float."""
    if not math.isfinite(price):
        return "—"
    if decimals is None:
        return f"{Decimal(repr(price)):,f}"
    return f"{price:,.{decimals}f}"
