"""An order's size as the runtime worked it out from what the user said."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Sizing:
    """``qty`` on the instrument's lot grid (rounded down) and ``text``, the sum that gave
    it (empty when the user gave the quantity itself)."""

    qty: Decimal
    text: str
