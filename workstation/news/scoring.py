"""An item's sentiment score and the symbols it concerns, given before it is stored."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence

from engine.model import NewsItem
from workstation.runtime.config import Settings
from workstation.store import Store


def known_symbols(store: Store, settings: Settings, extra: Iterable[str] = ()) -> list[str]:
    """The symbols an item may concern: the instruments the store lists, the watchlist (the
    stored one, else the settings' default) and ``extra`` (the symbols a runtime streams)."""
    watchlist = store.watchlists.get() or list(settings.get("watchlist.default", []) or [])
    return list(dict.fromkeys([*store.instruments.symbols(), *watchlist, *extra]))


def aliases_of(settings: Settings) -> dict[str, str]:
    """``commands.aliases`` with ``news.aliases`` over them (name -> symbol or base asset)."""
    out: dict[str, str] = {}
    for section in ("commands.aliases", "news.aliases"):
        out.update({str(k): str(v) for k, v in settings.section(section).items()})
    return out


def _tag_symbols(
    tags: Sequence[str], known: Collection[str], aliases: Mapping[str, str]
) -> list[str]:
    from engine.signals.sentiment import resolve_symbols

    by_upper = {s.upper(): s for s in known}
    out: list[str] = []
    for tag in tags:
        named = by_upper.get(tag.strip().upper())
        out.extend([named] if named else resolve_symbols(tag, known, aliases))
    return out


def enrich(
    items: Sequence[NewsItem], known: Collection[str], aliases: Mapping[str, str]
) -> list[NewsItem]:
    """Each item scored (its headline and summary; a score the source gave is kept) and its
    symbols: its tags that name known instruments, then those its text mentions."""
    from engine.signals.sentiment import resolve_symbols, score_text

    out: list[NewsItem] = []
    for item in items:
        text = f"{item.headline}. {item.summary}" if item.summary else item.headline
        symbols = [
            *_tag_symbols(item.symbols, known, aliases),
            *resolve_symbols(text, known, aliases),
        ]
        score = item.score if item.score is not None else score_text(text)
        out.append(dataclasses.replace(item, symbols=tuple(dict.fromkeys(symbols)), score=score))
    return out
