"""What the parser returns, and what it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class CommandError(ValueError):
    """Text the parser cannot read, or will not guess at; the message says what it expected."""


@dataclass(frozen=True, slots=True)
class Command:
    intent: str
    entities: dict[str, Any] = field(default_factory=dict, hash=False)
