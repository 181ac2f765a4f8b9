"""Signals on closed bars, from stored history: the ensemble with the QPE cycle detector, on
the engine (its thread, or its worker process in the app), one symbol and timeframe at a time.

Bars are stored before they are scanned, so the scan reads the store (never refetches from the
feed). When bars close faster than scans finish (a replay at full speed, many symbols), the
requests for one symbol conflate: the next scan of it uses its newest bar, and each bar that got
no scan of its own is counted in ``skipped``. :meth:`SignalPipeline.drain` finishes what is
queued (a clean shutdown stores every signal it computed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from engine.model import Signal
from workstation.runtime.engine_thread import run_engine
from workstation.store import Store

log = logging.getLogger(__name__)


def scan_frames(
    frames: dict[str, Any], timeframe: str, settings: dict[str, Any], backend: str
) -> list[Signal]:
    """The signals of the scan the runtime and the screen's manual ``scan`` share (run by the
    engine). ``settings`` is the plain ``signals`` section (numbers, no secrets: it may cross
    to the worker process). Only the signals come back: a scan result's types live in modules
    that import numba, which the UI process must not import just to read an answer."""
    from engine.signals.ensemble import EnsembleSettings
    from engine.signals.scanner import qpe_detector, scan

    detector = qpe_detector(backend)
    results = scan(frames, timeframe, EnsembleSettings.from_mapping(settings), detector)
    return [result.signal for result in results if result.signal is not None]


class SignalPipeline:
    def __init__(
        self,
        store: Store,
        venue: str,
        settings: dict[str, Any],
        on_signal: Callable[[Signal], None],
        prepare: Callable[[str, str], Awaitable[None]] | None = None,
        bars: int = 256,
        backend: str = "statevector",
    ) -> None:
        self.store = store
        self.venue = venue
        self.settings = settings
        self.on_signal = on_signal
        self.prepare = prepare
        """Awaited before a symbol's scan reads the store (the runtime stores its history)."""
        self.bars = bars
        self.backend = backend
        self.scans = 0
        self.skipped = 0
        self.failures = 0
        self._due: dict[tuple[str, str], int] = {}
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, symbol: str, timeframe: str) -> None:
        key = (symbol, timeframe)
        if key in self._due:
            self.skipped += 1
        self._due[key] = self._due.get(key, 0) + 1
        self._idle.clear()
        self._wakeup.set()

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._due:
                (symbol, timeframe), _n = next(iter(self._due.items()))
                del self._due[(symbol, timeframe)]
                await self._scan(symbol, timeframe)
            self._idle.set()

    async def drain(self) -> None:
        """Wait until every queued scan is done (the worker must be running)."""
        await self._idle.wait()

    async def _scan(self, symbol: str, timeframe: str) -> None:
        try:
            if self.prepare is not None:
                await self.prepare(symbol, timeframe)
            frame = await asyncio.to_thread(
                self.store.candles.last, symbol, timeframe, self.bars, self.venue
            )
            signals = await run_engine(
                scan_frames, {symbol: frame}, timeframe, self.settings, self.backend
            )
        except Exception:
            self.failures += 1
            log.exception("signal scan of %s %s failed", symbol, timeframe)
            return
        self.scans += 1
        for signal in signals:
            self.on_signal(signal)
