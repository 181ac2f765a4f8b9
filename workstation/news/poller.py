"""The news poller: each source polled on its own timer, its new items scored, stored and told,
and a symbol whose sentiment swings raised as an alert.

Each source runs in its own task with its own time limit, so a slow or dead source never
delays the others; a poll that fails is counted in the store (``news_sources``) and tried again
at its next turn, and its failure is logged once when the source starts failing and once when
it recovers, never at every poll. A source's HTTP validators (ETag, Last-Modified) are read
from the store when it is built and written after every poll, so the next process is polite
too.

The sentiment swing (:meth:`NewsPoller.swings`): after a poll, each symbol with fresh items has
its decayed sentiment (``signals.sentiment_half_life_s``) compared now and
``news.swing_window_s`` ago (no news then reads as neutral, 0); a move of at least
``news.swing_threshold`` is alerted, once per symbol and direction within the window. Fresh
means published since the poller started: the backlog a first poll loads is history, not news.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from engine.model import Alert, NewsItem
from engine.protocols import Source, SourceError
from workstation.alerts.builders import sentiment_alert
from workstation.news.scoring import aliases_of, enrich, known_symbols
from workstation.news.sources import source_key
from workstation.runtime.config import Settings
from workstation.runtime.secrets import redact
from workstation.store import Store

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class PollResult:
    """One poll of one source: the items stored for the first time (oldest first), how many
    it returned that were stored already, and why it failed ('' if it did not). ``warning``:
    a problem met on the way that did not lose the poll (a feed that needed repair)."""

    key: str
    name: str
    new: tuple[NewsItem, ...] = ()
    seen: int = 0
    error: str = ""
    warning: str = ""
    not_modified: bool = False  # the source said its feed is as at the last poll (HTTP 304)

    @property
    def ok(self) -> bool:
        return not self.error


ItemsListener = Callable[[tuple[NewsItem, ...]], None]
AlertListener = Callable[[Alert], None]
LogListener = Callable[[str, str], None]


class NewsPoller:
    first_poll_s = 1.0
    """The first poll of each source comes this soon after :meth:`run` starts (at most one
    interval): start-up's own work (history, the broker) goes first."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        sources: Sequence[Source],
        *,
        clock: Callable[[], int] = time.time_ns,
        on_items: ItemsListener | None = None,
        on_alert: AlertListener | None = None,
        on_log: LogListener | None = None,
        symbols: Collection[str] = (),
    ) -> None:
        self.store = store
        self.settings = settings
        self.sources = list(sources)
        self.clock = clock
        self.on_items = on_items
        self.on_alert = on_alert
        self.on_log = on_log
        self.symbols = list(symbols)
        self.interval_s = float(settings.get("news.interval_s", 300.0))
        self.timeout_s = float(settings.get("news.timeout_s", 10.0))
        self.aliases = aliases_of(settings)
        self.swing_threshold = float(settings.get("news.swing_threshold", 0.5))
        self.swing_window_s = float(settings.get("news.swing_window_s", 21_600.0))
        self.half_life_s = float(settings.get("signals.sentiment_half_life_s", 21_600.0))
        if not self.interval_s > 0 or not self.timeout_s > 0:
            raise ValueError("news.interval_s and news.timeout_s must be above 0")
        self.started_ns = clock()
        self._failing: dict[str, bool] = {}
        self._malformed: dict[str, tuple[int, str]] = {}
        self._alerted: dict[str, tuple[str, int]] = {}
        """symbol -> (direction, when) of its last swing alert."""
        self.alerts = 0
        for source in self.sources:
            self._restore(source)

    # -- one poll ---------------------------------------------------------------------------
    def _restore(self, source: Source) -> None:
        """Give a source the validators the store kept for its endpoint (if it takes them)."""
        if not hasattr(source, "etag"):
            return
        state = self.store.news.source(source_key(source))
        if state is not None and getattr(source, "etag", None) is None:
            source.etag = state.etag
            if hasattr(source, "last_modified"):
                source.last_modified = state.last_modified

    def _limit_s(self, source: Source) -> float:
        """A poll's hard time limit: twice the source's own timeout (a connect and a read),
        and a second of grace."""
        own = getattr(source, "timeout_s", None)
        base = float(own) if isinstance(own, int | float) and own > 0 else self.timeout_s
        return 2.0 * base + 1.0

    async def poll(self, source: Source) -> PollResult:
        """Poll ``source`` once, store what is new; never raises (but for cancellation)."""
        key = source_key(source)
        polled = self.clock()
        limit = self._limit_s(source)
        error = ""
        items: list[NewsItem] = []
        try:
            async with asyncio.timeout(limit):
                items = list(await source.fetch())
        except TimeoutError:
            error = f"no answer within {limit:g} s: {key}"
        except SourceError as exc:
            error = str(exc) or "failed"
        except Exception as exc:  # a plugin's bug: counted and shown, never a crash
            error = f"{type(exc).__name__}: {exc}"
        if error:
            error = redact(" ".join(error.split()))
            await asyncio.to_thread(self.store.news.record_poll, key, polled, error=error)
            self._note(key, error)
            return PollResult(key, source.name, error=error)
        try:
            new = await asyncio.to_thread(self._store_items, items, polled)
        except (ValueError, TypeError) as exc:  # an item the store cannot take
            error = redact(f"bad item from {key}: {exc}")
            await asyncio.to_thread(self.store.news.record_poll, key, polled, error=error)
            self._note(key, error)
            return PollResult(key, source.name, error=error)
        await asyncio.to_thread(
            self.store.news.record_poll,
            key,
            polled,
            items=len(new),
            etag=getattr(source, "etag", None),
            last_modified=getattr(source, "last_modified", None),
        )
        self._note(key, "")
        return PollResult(
            key,
            source.name,
            new,
            len(items) - len(new),
            "",
            self._warning(source),
            bool(getattr(source, "not_modified", False)),
        )

    def _store_items(self, items: list[NewsItem], polled: int) -> tuple[NewsItem, ...]:
        known = known_symbols(self.store, self.settings, self.symbols)
        scored = enrich(items, known, self.aliases)
        new = self.store.news.add(scored, polled)
        return tuple(sorted(new, key=lambda i: (i.ts_ns, i.key, i.id)))

    def _warning(self, source: Source) -> str:
        """A repaired feed's problem, if this poll met one (logged when it first shows)."""
        count = int(getattr(source, "malformed", 0) or 0)
        key = source_key(source)
        seen, said = self._malformed.get(key, (0, ""))
        if count <= seen:
            return ""
        problem = str(getattr(source, "last_problem", "") or "malformed document")
        text = redact(f"news {key}: kept the items of a malformed feed ({problem})")
        self._malformed[key] = (count, text)
        if text != said:
            self._say(text, "warning")
        return text

    def _note(self, key: str, error: str) -> None:
        """Log a source's failure when it starts failing, and its recovery: once each."""
        was = self._failing.get(key, False)
        now = bool(error)
        self._failing[key] = now
        if now and not was:
            self._say(f"news {key} failing: {error}", "warning")
        elif was and not now:
            self._say(f"news {key} answering again", "info")

    def _say(self, text: str, severity: str) -> None:
        log.log(logging.WARNING if severity != "info" else logging.INFO, "%s", text)
        if self.on_log is not None:
            self.on_log(text, severity)

    async def poll_all(self) -> list[PollResult]:
        """Every source once, concurrently (``qws news fetch``); new items are told and
        checked for swings as in :meth:`run`."""
        results = list(await asyncio.gather(*(self.poll(s) for s in self.sources)))
        for result in results:
            await self._arrived(result)
        return results

    async def _arrived(self, result: PollResult) -> None:
        if not result.new:
            return
        if self.on_items is not None:
            self.on_items(result.new)
        for alert in await asyncio.to_thread(self.swings, result.new):
            self.alerts += 1
            if self.on_alert is not None:
                self.on_alert(alert)

    # -- the background loop -----------------------------------------------------------------
    async def run(self) -> None:
        """Poll every source on its own timer until cancelled; then close them."""
        try:
            await asyncio.gather(*(self._loop(s) for s in self.sources))
        finally:
            await self.close()

    async def _loop(self, source: Source) -> None:
        await asyncio.sleep(min(self.first_poll_s, self.interval_s))
        while True:
            await self._arrived(await self.poll(source))
            await asyncio.sleep(self.interval_s)

    async def close(self) -> None:
        for source in self.sources:
            try:
                await source.close()
            except Exception:
                log.exception("closing news source %s failed", source_key(source))

    # -- sentiment swings ----------------------------------------------------------------------
    def swings(self, new: Sequence[NewsItem]) -> list[Alert]:
        """The swing alerts the fresh items among ``new`` raise (see the module docstring)."""
        from engine.signals.sentiment import sentiment_at

        now = self.clock()
        fresh = [i for i in new if i.ts_ns >= self.started_ns and i.ts_ns <= now]
        window = int(self.swing_window_s * NS_PER_S)
        horizon = window + int(20 * self.half_life_s * NS_PER_S)  # older weighs < 1e-6
        alerts: list[Alert] = []
        for symbol in dict.fromkeys(s for i in fresh for s in i.symbols):
            ts, scores = self.store.news.scores(symbol, now - horizon, now)
            after = sentiment_at(ts, scores, now, self.half_life_s)
            if after is None:
                continue
            before = sentiment_at(ts, scores, now - window, self.half_life_s)
            before = 0.0 if before is None else before
            move = after - before
            if not math.isfinite(move) or abs(move) < self.swing_threshold:
                continue
            direction = "up" if move > 0 else "down"
            last = self._alerted.get(symbol)
            if last is not None and last[0] == direction and now - last[1] < window:
                continue
            self._alerted[symbol] = (direction, now)
            latest = max((i for i in fresh if symbol in i.symbols), key=lambda i: i.ts_ns)
            alerts.append(
                sentiment_alert(symbol, before, after, self.swing_window_s, latest.headline, now)
            )
        return alerts
