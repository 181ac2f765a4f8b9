"""The news sources the settings name, built from their ``qws.sources`` entry points.

Each name in ``news.sources`` is loaded through the plugin registry and called with its
``[sources.<name>]`` table as keyword arguments. A plugin that reads several endpoints (the
first-party ``rss``) has a ``for_urls(urls, **kwargs)`` class method: it is given
``news.urls`` and returns one source per endpoint; the ``rss`` source also gets
``news.timeout_s`` unless its section sets ``timeout_s``.

Fake news never meets a real market: the ``demo`` source is polled only with the demo feed,
which polls it even when ``news.sources`` does not name it (a configured ``demo`` beside
another feed is left out, with a line saying so).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from engine.protocols import Source
from workstation.runtime.config import Settings
from workstation.runtime.registry import PluginNotFound, load

GROUP = "qws.sources"
DEMO = "demo"


def source_key(source: Source) -> str:
    """What names a source's endpoint in the store and in messages: its ``key`` (an RSS
    source's URL, credentials masked), else its plugin name."""
    return str(getattr(source, "key", "") or source.name)


def source_names(settings: Settings, demo_feed: bool) -> list[str]:
    """The ``qws.sources`` plugins polled: ``news.sources``, and ``demo`` with the demo feed."""
    names = list(dict.fromkeys(settings.get("news.sources", []) or []))
    return [*names, DEMO] if demo_feed and DEMO not in names else names


def configured_endpoints(settings: Settings, demo_feed: bool) -> list[tuple[str, str]]:
    """(plugin, endpoint key) of every source polled, without building them: each of
    ``news.urls`` for ``rss``, the plugin's name for the others (``qws doctor``)."""
    from feeds.news.rss import safe_url

    out: list[tuple[str, str]] = []
    for name in source_names(settings, demo_feed):
        if name == "rss":
            urls = dict.fromkeys(settings.get("news.urls", []) or [])
            out.extend(("rss", safe_url(u)) for u in urls)
        elif name != DEMO or demo_feed:
            out.append((name, name))
    return out


def build_sources(
    settings: Settings,
    *,
    demo_feed: bool,
    urls: Sequence[str] | None = None,
    clock: Callable[[], int] = time.time_ns,
    demo_symbols: Sequence[str] | None = None,
) -> tuple[list[Source], list[str]]:
    """The configured sources and the problems met building them (one line each: an unknown
    or broken plugin, a bad URL, a demo source left out). ``urls``: poll just these with the
    ``rss`` source instead of everything configured (``qws news fetch --url``)."""
    names = ["rss"] if urls is not None else source_names(settings, demo_feed)
    endpoints = list(urls) if urls is not None else list(settings.get("news.urls", []) or [])
    sources: list[Source] = []
    problems: list[str] = []
    for name in dict.fromkeys(names):
        if name == DEMO and not demo_feed:
            problems.append("news source demo left out: the feed is not the demo feed")
            continue
        try:
            factory: Any = load(GROUP, name)
        except PluginNotFound as exc:
            problems.append(f"news source {name}: {exc}")
            continue
        kwargs = dict(settings.section(f"sources.{name}"))
        if name == "rss":
            kwargs.setdefault("timeout_s", float(settings.get("news.timeout_s", 10.0)))
        if name == DEMO:
            kwargs.setdefault("seed", int(settings.get("demo.seed", 7)))
            kwargs.setdefault("clock", clock)
            if demo_symbols is not None:
                kwargs.setdefault("symbols", list(demo_symbols))
        for_urls = getattr(factory, "for_urls", None)
        if for_urls is not None:
            for url in dict.fromkeys(endpoints):
                try:
                    sources.extend(for_urls([url], **kwargs))
                except (TypeError, ValueError) as exc:
                    problems.append(f"news source {name}: {exc}")
            continue
        try:
            sources.append(factory(**kwargs))
        except Exception as exc:  # a plugin's constructor: reported, never a crash
            problems.append(f"news source {name}: cannot start: {type(exc).__name__}: {exc}")
    return sources, problems
