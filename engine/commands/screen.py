"""The screen's own commands: chart, timeframe, scan, backtest, strategy, stress, the watchlist,
search, cancel, kill, theme, and those without arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.commands.context import Context
from engine.commands.lexicon import FILLER, TIMEFRAMES
from engine.commands.model import Command, CommandError
from engine.commands.timeframes import timeframe_of

_ALL_ORDERS = (
    ["all"],
    ["everything"],
    ["all", "orders"],
    ["orders"],
    ["my", "orders"],
    ["all", "my", "orders"],
)


def words(tokens: list[str]) -> list[str]:
    return [t for t in tokens if t.lower() not in FILLER]


def parse_chart(tokens: list[str], ctx: Context) -> Command:
    entities: dict[str, Any] = {}
    for tok in words(tokens):
        tf = timeframe_of(tok)
        if tf and "timeframe" not in entities:
            entities["timeframe"] = tf
        elif "symbol" not in entities:
            entities["symbol"] = ctx.resolve(tok)
        else:
            raise CommandError(f"did not understand {tok!r}; try: chart XAUUSD 4h")
    if not entities:
        raise CommandError("chart what? try: chart XAUUSD 4h")
    return Command("chart", entities)


def parse_timeframe(tokens: list[str]) -> Command:
    if len(tokens) != 1 or timeframe_of(tokens[0]) is None:
        raise CommandError(f"which timeframe? one of {' '.join(TIMEFRAMES)}")
    return Command("timeframe", {"timeframe": timeframe_of(tokens[0])})


def parse_watch(intent: str, tokens: list[str], ctx: Context) -> Command:
    found = words(tokens)
    if len(found) != 1:
        raise CommandError(f"{intent} takes one symbol")
    return Command(intent, {"symbol": ctx.resolve(found[0]), "all": False})


def parse_cancel(tokens: list[str]) -> Command:
    found = words(tokens)
    if not found:
        raise CommandError("cancel what? an order id, or 'all'")
    if [w.lower() for w in found] in _ALL_ORDERS:
        return Command("cancel", {"client_id": None, "all": True})
    if len(found) != 1:
        raise CommandError("cancel takes one order id, or 'all'")
    return Command("cancel", {"client_id": found[0], "all": False})


def parse_scan(tokens: list[str], ctx: Context) -> Command:
    entities: dict[str, Any] = {"symbols": []}
    for tok in words(tokens):
        tf = timeframe_of(tok)
        if tf:
            entities["timeframe"] = tf
        elif tok.lower() != "all":
            entities["symbols"].append(ctx.resolve(tok))
    return Command("scan", entities)


def parse_backtest(tokens: list[str], ctx: Context) -> Command:
    found = words(tokens)
    if not found or "=" in found[0]:
        raise CommandError("backtest which strategy? try: backtest sma_cross fast=10 slow=30")
    entities: dict[str, Any] = {"strategy": found[0].lower(), "params": {}}
    for tok in found[1:]:
        if "=" in tok:
            key, _, raw = tok.partition("=")
            if not key or not raw:
                raise CommandError(f"a parameter looks like key=value, got {tok!r}")
            entities["params"][key.lower()] = param_value(raw)
        elif timeframe_of(tok):
            entities["timeframe"] = timeframe_of(tok)
        elif "symbol" not in entities:
            entities["symbol"] = ctx.resolve(tok)
        else:
            raise CommandError(f"did not understand {tok!r}; parameters are key=value")
    return Command("backtest", entities)


def param_value(raw: str) -> int | float | bool | str:
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


def parse_strategy(tokens: list[str], ctx: Context) -> Command:
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
        "symbol": ctx.resolve(rest[0]),
        "timeframe": timeframe,
    }
    return Command("strategy", entities)


PROPAGATE_WORDS = frozenset({"propagate", "propagated", "beta", "correlated", "--propagate"})


def parse_stress(tokens: list[str]) -> Command:
    """``stress BTC/USDT=-30%, crypto=-10% propagate``: the risk screen with those shocks (kept
    as written: the risk screen reads them, :func:`engine.trading.stress.parse_shocks`), the
    unshocked positions moved by correlation with ``propagate``."""
    propagate = any(t.lower() in PROPAGATE_WORDS for t in tokens)
    shocks = ",".join(t for t in tokens if t.lower() not in PROPAGATE_WORDS)
    return Command("stress", {"shocks": shocks, "propagate": propagate})


def parse_kill(tokens: list[str]) -> Command:
    found = [w.lower() for w in words(tokens)]
    if found in ([], ["on"], ["switch"], ["switch", "on"]):
        return Command("kill", {"on": True})
    if found in (["off"], ["switch", "off"]):
        return Command("kill", {"on": False})
    raise CommandError("kill on|off")


def parse_theme(tokens: list[str]) -> Command:
    if len(tokens) != 1:
        raise CommandError("theme NAME (e.g. theme nord); ctrl+t cycles themes")
    return Command("theme", {"theme": tokens[0].lower()})


def parse_search(tokens: list[str]) -> Command:
    if not tokens:
        raise CommandError("search what? e.g. search eth")
    return Command("search", {"text": " ".join(tokens)})


def parse_flatten(tokens: list[str]) -> Command:
    if [w.lower() for w in words(tokens)] not in ([], ["all"], ["everything"]):
        raise CommandError("flatten takes no arguments (it closes every position)")
    return Command("flatten", {})


def no_args(intent: str) -> Callable[[list[str]], Command]:
    def parse(tokens: list[str]) -> Command:
        if words(tokens):
            raise CommandError(f"{intent} takes no arguments")
        return Command(intent, {})

    return parse
