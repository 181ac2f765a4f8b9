"""The bar intervals a command may name."""

from __future__ import annotations

from engine.commands.lexicon import TF_ALIASES, TIMEFRAMES


def timeframe_of(token: str) -> str | None:
    t = token.lower()
    t = TF_ALIASES.get(t, t)
    return t if t in TIMEFRAMES else None
