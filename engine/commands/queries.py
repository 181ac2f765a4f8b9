"""Questions: ``what is my pnl``, ``show positions``, ``price of gold``, ``how much is bitcoin``."""

from __future__ import annotations

from typing import Any

from engine.commands.context import Context
from engine.commands.lexicon import HOLDING, QUERY_FILLER, QUERY_WORDS, TOPICS
from engine.commands.model import Command, CommandError
from engine.commands.timeframes import timeframe_of

_ABOUT = "pnl, positions, orders, balance, risk, or the price of a symbol (price of gold)"


def has_topic(tokens: list[str], ctx: Context) -> bool:
    """Whether the words ask about a topic (``show positions``), not show a chart
    (``show btc``); a misspelt topic counts (``show postions``)."""
    for tok in tokens:
        low = tok.lower()
        if low in TOPICS:
            return True
        if low in QUERY_FILLER or timeframe_of(low) or ctx.names_symbol(tok):
            continue
        try:
            if ctx.correct(tok, QUERY_WORDS, record=False) is not None:
                return True
        except CommandError:
            return True
    return False


def parse_query(tokens: list[str], ctx: Context) -> Command:
    """One topic, and a symbol where it asks about one. A symbol without a topic asks its
    price (``how much is bitcoin``), or the position in it (``how much btc do i have``)."""
    topics: list[str] = []
    symbols: list[str] = []
    holding = False
    words = list(tokens)
    i = 0
    while i < len(words):
        tok, low = words[i], words[i].lower()
        i += 1
        if low in TOPICS:
            if TOPICS[low] not in topics:
                topics.append(TOPICS[low])
        elif low in QUERY_FILLER:
            holding = holding or low in HOLDING
        else:
            read, is_symbol = ctx.symbol_or_word(tok, QUERY_WORDS)
            if is_symbol:
                symbols.append(read)
            else:
                i -= 1
                words[i] = read
    if len(topics) > 1:
        raise CommandError(f"one question at a time: {' or '.join(topics)}?")
    if len(set(symbols)) > 1:
        raise CommandError(f"one symbol at a time: {' or '.join(dict.fromkeys(symbols))}?")
    symbol = symbols[0] if symbols else None
    if topics:
        what = topics[0]
    elif symbol is not None:
        what = "positions" if holding else "price"
    else:
        raise CommandError(f"what about? {_ABOUT}")
    if what == "price" and symbol is None:
        raise CommandError("the price of which symbol? e.g. price of gold")
    e: dict[str, Any] = {"what": what}
    if symbol is not None:
        e["symbol"] = symbol
    e["understood"] = what if symbol is None else f"{what} {symbol}"
    return Command("query", e)
