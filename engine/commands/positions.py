"""What is done to a position already held: ``close half my eth``, ``set stop on btc to 58000``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.commands.context import Context
from engine.commands.lexicon import (
    AMEND_FILLER,
    AMEND_LEVELS,
    AMEND_WORDS,
    CLOSE_FILLER,
    CLOSE_WORDS,
    FRACTIONS,
    NO_PRICE,
)
from engine.commands.model import Command, CommandError
from engine.commands.orders import expand
from engine.commands.text import fmt, is_percent, looks_numeric, number, percent

_AMEND_EXAMPLE = "e.g. set stop on btc to 58000"
_WHOLE = ("all", "everything")


def parse_close(tokens: list[str], ctx: Context) -> Command:
    """``close btc`` | ``close all`` | ``close half my eth`` | ``close 25% of btc``.

    ``all`` with a symbol is the whole of it; a part of every position is refused (say which)."""
    symbols: list[str] = []
    part: Decimal | None = None
    whole = False
    words = list(tokens)
    i = 0
    while i < len(words):
        tok, low = words[i], words[i].lower()
        i += 1
        if low in CLOSE_FILLER:
            continue
        if low in _WHOLE:
            whole = True
        elif low in FRACTIONS or is_percent(low):
            if part is not None:
                raise CommandError(f"close takes one fraction, got a second: {tok!r}")
            part = FRACTIONS[low] if low in FRACTIONS else percent(low)
        elif looks_numeric(tok):
            raise CommandError(
                f"close takes a fraction (half, 25%) or all, not {tok!r}; "
                f"to reduce by a quantity: sell {tok} SYMBOL"
            )
        else:
            read, is_symbol = ctx.symbol_or_word(tok, CLOSE_WORDS)
            if is_symbol:
                symbols.append(read)
            else:
                i -= 1
                words[i] = read
    if len(symbols) > 1:
        raise CommandError("close takes one symbol or 'all'")
    if part == 1:
        part = None
    if not symbols:
        if part is not None:
            raise CommandError("a part of which position? e.g. close half my eth")
        if not whole:
            raise CommandError("close what? a symbol, or 'all'")
        return Command("close", {"symbol": None, "all": True, "understood": "close all"})
    e: dict[str, Any] = {"symbol": symbols[0], "all": False}
    if part is not None:
        e["fraction"] = part
        e["understood"] = f"close {fmt(part * 100)}% of {symbols[0]}"
    else:
        e["understood"] = f"close {symbols[0]}"
    return Command("close", e)


def parse_amend(tokens: list[str], ctx: Context) -> Command:
    """``set stop on btc to 58000`` | ``move my eth stop to 3000`` | ``tp sol 180`` |
    ``set tp on eth 4000 and sl 3000``: new protective levels for a position's symbol.

    Which side the position is on is not known here, so the levels are not checked against
    it: the client does, as it does for any order."""
    e: dict[str, Any] = {}
    pending: tuple[str, str] | None = None
    words = expand(tokens)
    i = 0
    while i < len(words):
        tok, low = words[i], words[i].lower()
        i += 1
        if low in AMEND_LEVELS:
            if pending is not None:
                raise CommandError(f"{pending[1]!r} needs a price after it")
            pending = (AMEND_LEVELS[low], tok)
        elif low in NO_PRICE:
            raise CommandError(
                f"give the price, not {tok!r}: the entry is not known here ({_AMEND_EXAMPLE})"
            )
        elif low in AMEND_FILLER:
            continue
        elif looks_numeric(tok):
            if pending is None:
                raise CommandError(f"which level is {tok} for? write sl {tok} or tp {tok}")
            key = pending[0]
            if key in e:
                raise CommandError(f"two prices for the {key.upper()}: give one")
            e[key] = number(tok, f"the {key.upper()} price")
            pending = None
        elif ctx.names_symbol(tok) and "symbol" not in e:
            e["symbol"] = ctx.resolve(tok)
        else:
            corrected = ctx.correct(tok, AMEND_WORDS)
            if corrected is not None:
                i -= 1
                words[i] = corrected
            elif "symbol" in e:
                raise CommandError(f"did not understand {tok!r}; {_AMEND_EXAMPLE}")
            else:
                e["symbol"] = ctx.resolve(tok)
    if pending is not None:
        raise CommandError(f"{pending[1]!r} needs a price after it")
    if "sl" not in e and "tp" not in e:
        raise CommandError(f"move which level, to what price? {_AMEND_EXAMPLE}")
    if "symbol" not in e:
        raise CommandError(f"the stop or target of which symbol? {_AMEND_EXAMPLE}")
    levels = " ".join(f"{k} {fmt(e[k])}" for k in ("sl", "tp") if k in e)
    e["understood"] = f"amend {e['symbol']} {levels}"
    return Command("amend", e)
