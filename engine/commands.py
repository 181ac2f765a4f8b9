"""The command bar's language: typed text -> an intent with entities. Pure, no I/O.

``parse("buy 0.1 btc limit 60000 sl 58000 tp 65000", symbols)`` returns
``Command("order", {"side": "buy", "qty": Decimal("0.1"), "symbol": "BTC/USDT", "type": "limit",
"price": Decimal("60000"), "sl": ..., "tp": ...})``. Anything it cannot read raises
:class:`CommandError` whose message says what was expected, so the screen can show it as is.
An ``order`` intent is only ever a proposal: the screen opens the order ticket pre-filled.

Symbols are resolved against the list the caller passes (the active feed's symbols): exact
match first, then the same letters without separators (``btcusdt``), then a unique prefix
(``btc`` -> ``BTC/USDT``). Without a list, symbols are taken as typed (upper-cased).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "4h", "1d")
_TF_ALIASES = {
    "1min": "1m",
    "5min": "5m",
    "15min": "15m",
    "30min": "30m",
    "60m": "1h",
    "1hr": "1h",
    "h1": "1h",
    "h4": "4h",
    "m1": "1m",
    "m5": "5m",
    "m15": "15m",
    "m30": "30m",
    "d1": "1d",
    "daily": "1d",
    "day": "1d",
    "4hr": "4h",
}
_SIDES = {"buy": "buy", "long": "buy", "b": "buy", "sell": "sell", "short": "sell", "s": "sell"}
_TYPES = {"market": "market", "mkt": "market", "limit": "limit", "lmt": "limit", "stop": "stop"}
_FILLER = {"of", "the", "a", "an", "please", "me", "to", "for", "with", "and", "on", "units"}

HELP = (
    "buy|sell QTY SYMBOL [limit|stop PRICE | @PRICE] [sl PRICE] [tp PRICE]",
    "close SYMBOL|all · cancel ID|all · flatten · kill on|off",
    "chart SYMBOL [TF] · tf 1m|5m|15m|1h|4h|1d",
    "scan [SYMBOL...] · backtest STRATEGY [key=value ...] [on SYMBOL] [TF]",
    "strategy start|stop NAME[:k=v,...] SYMBOL [TF]",
    "add SYMBOL · remove SYMBOL · search TEXT",
    "help · settings · theme NAME · quit",
)


class CommandError(ValueError):
    """Text the parser cannot read; the message says what it expected."""


@dataclass(frozen=True, slots=True)
class Command:
    intent: str
    entities: dict[str, Any] = field(default_factory=dict, hash=False)


def _tokens(text: str) -> list[str]:
    text = text.strip().lstrip(":").strip()
    text = re.sub(r"@\s*", " @ ", text)
    text = re.sub(r"(?<=\w)\s*=\s*(?=\S)", "=", text)
    return [t for t in re.split(r"[\s,]+", text) if t]


def _number(token: str, what: str) -> Decimal:
    cleaned = token.replace("_", "").replace("'", "")
    if cleaned.lower().endswith("k") and len(cleaned) > 1:
        base, mult = cleaned[:-1], Decimal(1000)
    else:
        base, mult = cleaned, Decimal(1)
    try:
        value = Decimal(base) * mult
    except InvalidOperation:
        raise CommandError(f"expected a number for {what}, got {token!r}") from None
    if not value.is_finite() or value <= 0:
        raise CommandError(f"{what} must be a positive number, got {token!r}")
    return value


def _is_number(token: str) -> bool:
    try:
        _number(token, "")
    except CommandError:
        return False
    return True


def _looks_numeric(token: str) -> bool:
    return re.fullmatch(r"[-+]?[\d_.']+[kK]?", token) is not None and any(
        c.isdigit() for c in token
    )


def timeframe_of(token: str) -> str | None:
    t = token.lower()
    t = _TF_ALIASES.get(t, t)
    return t if t in TIMEFRAMES else None


def _squash(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def resolve_symbol(token: str, symbols: Sequence[str] | None) -> str:
    """The known symbol ``token`` names, or a CommandError listing the close candidates.

    The one resolution of a typed symbol (the command bar, ``qws order``, the broker factory):
    the same symbol in any case first, then the same letters without separators
    (``btcusdt``), then a unique prefix of those (``btc`` -> ``BTC/USDT``)."""
    if not symbols:
        return token.upper()
    upper = token.upper()
    same = [s for s in dict.fromkeys(symbols) if s.upper() == upper]
    if len(same) == 1:
        return same[0]
    if upper in same:
        return upper
    squashed = _squash(token)
    if not squashed:
        raise CommandError(f"not a symbol: {token!r}")
    exact = [s for s in dict.fromkeys(symbols) if _squash(s) == squashed]
    if len(exact) == 1:
        return exact[0]
    prefix = [s for s in dict.fromkeys(symbols) if _squash(s).startswith(squashed)]
    if len(prefix) == 1:
        return prefix[0]
    if prefix:
        raise CommandError(f"{token!r} is ambiguous: {_some(prefix)}")
    raise CommandError(f"unknown symbol {token!r}; known: {_some(list(dict.fromkeys(symbols)))}")


def _some(symbols: list[str], most: int = 12) -> str:
    shown = ", ".join(symbols[:most])
    return shown if len(symbols) <= most else f"{shown} ... ({len(symbols)} in all)"


def _words(tokens: list[str]) -> list[str]:
    return [t for t in tokens if t.lower() not in _FILLER]


def _parse_order(side: str, tokens: list[str], symbols: Sequence[str] | None) -> Command:
    entities: dict[str, Any] = {"side": side, "type": "market"}
    # ``sl=1.08`` / ``tp=1.09`` / ``limit=1.07`` read as ``sl 1.08``
    rest = [part for tok in _words(tokens) for part in tok.split("=", 1) if part]
    i = 0
    while i < len(rest):
        tok, low = rest[i], rest[i].lower()
        nxt = rest[i + 1] if i + 1 < len(rest) else None
        if low in _TYPES:
            entities["type"] = _TYPES[low]
            if entities["type"] != "market" and nxt is not None and _is_number(nxt):
                entities["price"] = _number(nxt, f"the {low} price")
                i += 1
        elif low in ("@", "at"):
            if nxt is None:
                raise CommandError(f"{tok!r} needs a price after it")
            entities["price"] = _number(nxt, "the price")
            if entities["type"] == "market":
                entities["type"] = "limit"
            i += 1
        elif low in ("sl", "stoploss", "stop-loss", "tp", "takeprofit", "take-profit", "target"):
            key = "sl" if low.startswith(("sl", "stop")) else "tp"
            if nxt is None:
                raise CommandError(f"{tok!r} needs a price after it")
            entities[key] = _number(nxt, f"the {key.upper()} price")
            i += 1
        elif low in ("gtc", "ioc", "fok", "day"):
            entities["tif"] = low.upper()
        elif _looks_numeric(tok) and "qty" not in entities:
            entities["qty"] = _number(tok, "the quantity")
        elif "symbol" not in entities and not _looks_numeric(tok):
            entities["symbol"] = resolve_symbol(tok, symbols)
        else:
            raise CommandError(f"did not understand {tok!r} in the order; try: {HELP[0]}")
        i += 1
    if "symbol" not in entities:
        raise CommandError(f"which symbol? try: {side} 0.1 BTC/USDT")
    if entities["type"] in ("limit", "stop") and "price" not in entities:
        raise CommandError(f"a {entities['type']} order needs a price: {entities['type']} PRICE")
    return Command("order", entities)


def _parse_chart(tokens: list[str], symbols: Sequence[str] | None) -> Command:
    entities: dict[str, Any] = {}
    for tok in _words(tokens):
        tf = timeframe_of(tok)
        if tf and "timeframe" not in entities:
            entities["timeframe"] = tf
        elif "symbol" not in entities:
            entities["symbol"] = resolve_symbol(tok, symbols)
        else:
            raise CommandError(f"did not understand {tok!r}; try: chart XAUUSD 4h")
    if not entities:
        raise CommandError("chart what? try: chart XAUUSD 4h")
    return Command("chart", entities)


def _parse_timeframe(tokens: list[str]) -> Command:
    if len(tokens) != 1 or timeframe_of(tokens[0]) is None:
        raise CommandError(f"which timeframe? one of {' '.join(TIMEFRAMES)}")
    return Command("timeframe", {"timeframe": timeframe_of(tokens[0])})


def _parse_symbol_target(
    intent: str, tokens: list[str], symbols: Sequence[str] | None, allow_all: bool
) -> Command:
    words = _words(tokens)
    if allow_all and (not words or [w.lower() for w in words] in (["all"], ["everything"])):
        if not words:
            raise CommandError(f"{intent} what? a symbol, or 'all'")
        return Command(intent, {"symbol": None, "all": True})
    if len(words) != 1:
        raise CommandError(f"{intent} takes one symbol" + (" or 'all'" if allow_all else ""))
    return Command(intent, {"symbol": resolve_symbol(words[0], symbols), "all": False})


def _parse_cancel(tokens: list[str]) -> Command:
    words = _words(tokens)
    if not words:
        raise CommandError("cancel what? an order id, or 'all'")
    if [w.lower() for w in words] in (["all"], ["everything"], ["all", "orders"]):
        return Command("cancel", {"client_id": None, "all": True})
    if len(words) != 1:
        raise CommandError("cancel takes one order id, or 'all'")
    return Command("cancel", {"client_id": words[0], "all": False})


def _parse_scan(tokens: list[str], symbols: Sequence[str] | None) -> Command:
    entities: dict[str, Any] = {"symbols": []}
    for tok in _words(tokens):
        tf = timeframe_of(tok)
        if tf:
            entities["timeframe"] = tf
        elif tok.lower() != "all":
            entities["symbols"].append(resolve_symbol(tok, symbols))
    return Command("scan", entities)


def _parse_backtest(tokens: list[str], symbols: Sequence[str] | None) -> Command:
    words = _words(tokens)
    if not words or "=" in words[0]:
        raise CommandError("backtest which strategy? try: backtest sma_cross fast=10 slow=30")
    entities: dict[str, Any] = {"strategy": words[0].lower(), "params": {}}
    for tok in words[1:]:
        if "=" in tok:
            key, _, raw = tok.partition("=")
            if not key or not raw:
                raise CommandError(f"a parameter looks like key=value, got {tok!r}")
            entities["params"][key.lower()] = _param_value(raw)
        elif timeframe_of(tok):
            entities["timeframe"] = timeframe_of(tok)
        elif "symbol" not in entities:
            entities["symbol"] = resolve_symbol(tok, symbols)
        else:
            raise CommandError(f"did not understand {tok!r}; parameters are key=value")
    return Command("backtest", entities)


def _param_value(raw: str) -> int | float | bool | str:
    low = raw.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return raw


def _parse_strategy(tokens: list[str], symbols: Sequence[str] | None) -> Command:
    """``strategy start sma_cross:fast=5 BTC/USDT 1h`` (the timeframe defaults to the
    stream's)."""
    usage = "strategy start|stop NAME[:k=v,...] SYMBOL [TF]"
    if len(tokens) < 3 or tokens[0].lower() not in ("start", "stop"):
        raise CommandError(usage)
    action, name, rest = tokens[0].lower(), tokens[1], tokens[2:]
    while rest and "=" in rest[0]:  # the tokenizer split "NAME:a=1,b=2" on its commas
        name, rest = f"{name},{rest[0]}", rest[1:]
    timeframe = timeframe_of(rest[-1]) if len(rest) > 1 else None
    if timeframe:
        rest = rest[:-1]
    if len(rest) != 1:
        raise CommandError(usage)
    entities: dict[str, Any] = {
        "action": action,
        "strategy": name,
        "symbol": resolve_symbol(rest[0], symbols),
        "timeframe": timeframe,
    }
    return Command("strategy", entities)


def _parse_kill(tokens: list[str]) -> Command:
    words = [w.lower() for w in _words(tokens)]
    if words in ([], ["on"], ["switch"], ["switch", "on"]):
        return Command("kill", {"on": True})
    if words in (["off"], ["switch", "off"]):
        return Command("kill", {"on": False})
    raise CommandError("kill on|off")


def _parse_theme(tokens: list[str]) -> Command:
    if len(tokens) != 1:
        raise CommandError("theme NAME (e.g. theme nord); ctrl+t cycles themes")
    return Command("theme", {"theme": tokens[0].lower()})


def _parse_search(tokens: list[str]) -> Command:
    if not tokens:
        raise CommandError("search what? e.g. search eth")
    return Command("search", {"text": " ".join(tokens)})


def _no_args(intent: str) -> Callable[[list[str]], Command]:
    def parse(tokens: list[str]) -> Command:
        if _words(tokens):
            raise CommandError(f"{intent} takes no arguments")
        return Command(intent, {})

    return parse


_VERBS: dict[str, str] = {
    "chart": "chart",
    "show": "chart",
    "open": "chart",
    "view": "chart",
    "tf": "timeframe",
    "timeframe": "timeframe",
    "interval": "timeframe",
    "close": "close",
    "exit": "close",
    "flatten": "flatten",
    "cancel": "cancel",
    "scan": "scan",
    "backtest": "backtest",
    "bt": "backtest",
    "test": "backtest",
    "add": "watch_add",
    "watch": "watch_add",
    "remove": "watch_remove",
    "rm": "watch_remove",
    "unwatch": "watch_remove",
    "search": "search",
    "find": "search",
    "kill": "kill",
    "strategy": "strategy",
    "strat": "strategy",
    "help": "help",
    "?": "help",
    "settings": "settings",
    "prefs": "settings",
    "theme": "theme",
    "quit": "quit",
}


def parse(text: str, symbols: Sequence[str] | None = None) -> Command:
    """Read one command line. Raises :class:`CommandError` with a helpful message."""
    tokens = _tokens(text)
    if not tokens:
        raise CommandError("type a command; 'help' lists them")
    head, rest = tokens[0].lower(), tokens[1:]
    if head in _SIDES:
        return _parse_order(_SIDES[head], rest, symbols)
    if head in ("go",) and rest and rest[0].lower() in ("long", "short"):
        return _parse_order(_SIDES[rest[0].lower()], rest[1:], symbols)
    if timeframe_of(head) and not rest:
        return Command("timeframe", {"timeframe": timeframe_of(head)})
    verb = _VERBS.get(head)
    if verb is None:
        if symbols and not rest:
            try:
                return Command("chart", {"symbol": resolve_symbol(head, symbols)})
            except CommandError:
                pass
        raise CommandError(f"unknown command {tokens[0]!r}; try one of: " + " · ".join(HELP[:3]))
    if verb == "chart":
        return _parse_chart(rest, symbols)
    if verb == "timeframe":
        return _parse_timeframe(rest)
    if verb == "close":
        return _parse_symbol_target("close", rest, symbols, allow_all=True)
    if verb == "cancel":
        return _parse_cancel(rest)
    if verb == "scan":
        return _parse_scan(rest, symbols)
    if verb == "backtest":
        return _parse_backtest(rest, symbols)
    if verb in ("watch_add", "watch_remove"):
        return _parse_symbol_target(verb, rest, symbols, allow_all=False)
    if verb == "kill":
        return _parse_kill(rest)
    if verb == "strategy":
        return _parse_strategy(rest, symbols)
    if verb == "theme":
        return _parse_theme(rest)
    if verb == "search":
        return _parse_search(rest)
    return _no_args(verb)(rest)
