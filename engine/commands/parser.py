"""One command line -> one :class:`Command`: the first word picks the reading."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from engine.commands.context import Context
from engine.commands.lexicon import (
    AMEND_VERBS,
    DEFAULT_ALIASES,
    HEAD_WORDS,
    HELP,
    LEADING,
    LEVELS,
    QUERY_HEADS,
    SHOW_VERBS,
    SIDES,
    TOPICS,
    VERBS,
)
from engine.commands.model import Command, CommandError
from engine.commands.orders import parse_order
from engine.commands.positions import parse_amend, parse_close
from engine.commands.queries import has_topic, parse_query
from engine.commands.screen import (
    no_args,
    parse_backtest,
    parse_cancel,
    parse_chart,
    parse_flatten,
    parse_kill,
    parse_scan,
    parse_search,
    parse_strategy,
    parse_stress,
    parse_theme,
    parse_timeframe,
    parse_watch,
)
from engine.commands.text import tokens as split_tokens
from engine.commands.timeframes import timeframe_of


def parse(
    text: str, symbols: Sequence[str] | None = None, aliases: Mapping[str, str] | None = None
) -> Command:
    """Read one command line. Raises :class:`CommandError` with a helpful message.

    ``symbols`` are the names an instrument resolves against (the active feed's); ``aliases``
    are the user's names for instruments (name -> symbol or base asset), merged over
    :data:`DEFAULT_ALIASES`."""
    ctx = Context(symbols, merged_aliases(aliases))
    tokens = _join_names(_without_opening(split_tokens(text)), ctx.aliases)
    if not tokens:
        raise CommandError("type a command; 'help' lists them")
    try:
        command = _read(tokens, ctx)
    except CommandError as exc:
        if not ctx.corrections:
            raise
        read = ", ".join(ctx.corrections)
        raise CommandError(f"{exc} (corrected: {read})") from None
    if ctx.corrections:
        command.entities.setdefault("corrections", list(ctx.corrections))
    return command


def merged_aliases(aliases: Mapping[str, str] | None) -> Mapping[str, str]:
    if not aliases:
        return DEFAULT_ALIASES
    merged = dict(DEFAULT_ALIASES)
    for name, value in aliases.items():
        if not isinstance(name, str) or not isinstance(value, str) or not value.strip():
            raise CommandError(
                f"the alias {name!r} must name a symbol or a base asset, got {value!r}"
            )
        merged[" ".join(name.lower().split())] = value.strip()
    return merged


def _without_opening(tokens: list[str]) -> list[str]:
    """``please buy ...``, ``i want to buy ...`` -> ``buy ...``."""
    found = True
    while found and tokens:
        found = False
        for opening in LEADING:
            n = len(opening)
            if len(tokens) > n and tuple(t.lower() for t in tokens[:n]) == opening:
                tokens, found = tokens[n:], True
                break
    return tokens


@lru_cache(maxsize=8)
def _long_names(names: frozenset[str]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """First word -> the aliases of several words it starts, longest first."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for name in names:
        parts = tuple(name.split())
        if len(parts) > 1:
            out.setdefault(parts[0], []).append(parts)
    return {k: tuple(sorted(v, key=len, reverse=True)) for k, v in out.items()}


def _join_names(tokens: list[str], aliases: Mapping[str, str]) -> list[str]:
    """An alias of several words (``crude oil``, ``s&p 500``) becomes one token."""
    longs = _long_names(frozenset(k for k in aliases if " " in k))
    if not longs:
        return tokens
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for parts in longs.get(tokens[i].lower(), ()):
            if tuple(t.lower() for t in tokens[i : i + len(parts)]) == parts:
                out.append(" ".join(parts))
                i += len(parts)
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


def _read(tokens: list[str], ctx: Context) -> Command:
    head, rest = tokens[0].lower(), tokens[1:]
    if head in SIDES:
        return parse_order(SIDES[head], rest, ctx)
    if head in ("go", "open") and rest and rest[0].lower() in ("long", "short"):
        return parse_order(SIDES[rest[0].lower()], rest[1:], ctx)
    if timeframe_of(head) and not rest:
        return Command("timeframe", {"timeframe": timeframe_of(head)})
    if head in ("close", "exit"):
        return parse_close(rest, ctx)
    if head in LEVELS:
        return parse_amend(tokens, ctx)
    if head in AMEND_VERBS:
        return parse_amend(rest, ctx)
    if head in SHOW_VERBS and has_topic(rest, ctx):
        return parse_query(rest, ctx)
    if head in QUERY_HEADS or head in TOPICS:
        return parse_query(tokens, ctx)
    verb = VERBS.get(head)
    if verb is not None:
        return _screen(verb, rest, ctx)
    if ctx.names_symbol(tokens[0]) or head in ctx.aliases:
        if not rest:
            return Command("chart", {"symbol": ctx.resolve(tokens[0])})
        if has_topic(rest, ctx):
            return parse_query(tokens, ctx)
        return parse_chart(tokens, ctx)
    corrected = ctx.correct(tokens[0], HEAD_WORDS)
    if corrected is not None:
        return _read([corrected, *rest], ctx)
    raise CommandError(f"unknown command {tokens[0]!r}; try one of: " + " · ".join(HELP[:3]))


def _screen(verb: str, rest: list[str], ctx: Context) -> Command:
    if verb == "chart":
        return parse_chart(rest, ctx)
    if verb == "timeframe":
        return parse_timeframe(rest)
    if verb == "cancel":
        return parse_cancel(rest)
    if verb == "scan":
        return parse_scan(rest, ctx)
    if verb == "backtest":
        return parse_backtest(rest, ctx)
    if verb in ("watch_add", "watch_remove"):
        return parse_watch(verb, rest, ctx)
    if verb == "kill":
        return parse_kill(rest)
    if verb == "strategy":
        return parse_strategy(rest, ctx)
    if verb == "stress":
        return parse_stress(rest)
    if verb == "theme":
        return parse_theme(rest)
    if verb == "search":
        return parse_search(rest)
    if verb == "flatten":
        return parse_flatten(rest)
    return no_args(verb)(rest)
