"""The command language: typed text -> an intent with entities. Pure, no I/O.

One parser for the command bar, the palette and Telegram messages.
``parse("buy 0.1 btc limit 60000 sl 58000 tp 65000", symbols)`` returns
``Command("order", {"side": "buy", "qty": Decimal("0.1"), "symbol": "BTC/USDT", "type": "limit",
"price": Decimal("60000"), "sl": ..., "tp": ..., "understood": "buy 0.1 BTC/USDT limit 60000
sl 58000 tp 65000", "corrections": []})``. Anything it cannot read, or will not guess at, raises
:class:`CommandError` whose message says what was expected, so a client can show it as is.

The intents and their entities (amounts and prices are ``Decimal``):

- ``order``: ``side``, ``symbol``, at most one of ``qty`` | ``notional`` (with
  ``notional_ccy``) | ``fraction`` (of the current position), ``type``, optional ``price``,
  ``sl``, ``tp``, ``tif``; ``understood`` (the order as read) and ``corrections`` (typos read
  as words, ``"by -> buy"``). Only ever a proposal: the client opens the ticket pre-filled.
- ``close``: ``symbol`` and ``all: False``, or ``symbol: None`` and ``all: True``; optional
  ``fraction``; ``understood``.
- ``amend``: ``symbol``, ``sl`` and/or ``tp``; ``understood``.
- ``query``: ``what`` in pnl | positions | orders | balance | risk | price, optional
  ``symbol`` (always there for price); ``understood``.
- the screen's: chart, timeframe, scan, backtest, strategy, watch_add, watch_remove, search,
  cancel, flatten, kill, theme, help, settings, quit.

Every intent but ``order`` carries ``corrections`` only when a typo was corrected.

Symbols are resolved against the list the caller passes (the active feed's), with the alias
table (:data:`DEFAULT_ALIASES` and the user's): see :mod:`engine.commands.symbols`. Without a
list, symbols are taken as typed (upper-cased).
"""

from engine.commands.lexicon import DEFAULT_ALIASES, HELP, TIMEFRAMES
from engine.commands.model import Command, CommandError
from engine.commands.parser import parse
from engine.commands.screen import param_value as _param_value
from engine.commands.symbols import resolve_symbol
from engine.commands.timeframes import timeframe_of

__all__ = [
    "DEFAULT_ALIASES",
    "HELP",
    "TIMEFRAMES",
    "Command",
    "CommandError",
    "_param_value",
    "parse",
    "resolve_symbol",
    "timeframe_of",
]
