"""Signals on closed bars, from stored history: the ensemble with the QPE cycle detector, on
the engine (its thread, or its worker process in the app), one symbol and timeframe at a time.

Bars are stored before they are scanned, so the scan reads the store (never refetches from the
feed). When bars close faster than scans finish (a replay at full speed, many symbols), the
requests for one symbol conflate: the next scan of it uses its newest bar, and each bar that got
no scan of its own is counted in ``skipped``. :meth:`SignalPipeline.drain` finishes what is
queued (a clean shutdown stores every signal it computed).

**Learnt confidence** (``[confidence] learnt``, issue 17). Before a symbol's scan the pipeline
makes sure it has that symbol's model of P(up at the horizon): the newest stored one of the
current recipe (:func:`engine.signals.evidence.model_spec`) if it has seen all but fewer than
``refit_bars`` of the stored bars, else a fit on the engine over the last ``history_bars``
stored bars, which is stored as the next version. The fit runs in the scan's turn, so every
signal of a symbol after its first fit carries the learnt probability and its evidence (no
race between a background fit and the signals a test or a trader sees); a symbol with too few
bars keeps the ensemble's rule-made confidence, its reason saying so, and is tried again once
``refit_bars`` more bars are stored. The UI process never imports the engine for this: models
travel to the engine as the plain dicts the store keeps.

**News sentiment.** Every frame sent to the engine, the scan's and the fit's, first gets the
symbol's news from ``store.news.scores`` as its ``sentiment`` columns
(:func:`engine.signals.sentiment.attach_news`, numpy only: no numba in the UI process), by
the one method :meth:`SignalPipeline.with_news`: a model is fitted on the very column it is
scored with. A symbol without news gets no column, and its signals are what they were without
news.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from engine.model import Signal
from engine.signals.sentiment import HALF_LIFE_S, attach_news
from engine.timeframes import parse
from workstation.runtime.config import ConfigError
from workstation.runtime.engine_thread import run_engine
from workstation.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LearningSettings:
    """The ``[confidence]`` section."""

    learnt: bool = True
    history_bars: int = 5000
    refit_bars: int = 250
    min_train: int = 500
    block: int = 250

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> LearningSettings:
        """The section as the config holds it (its types checked there); a count below 1 is a
        ConfigError naming the key and its value."""
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        out = cls(**{k: type(getattr(cls(), k))(v) for k, v in known.items()})
        for key in ("history_bars", "refit_bars", "min_train", "block"):
            if getattr(out, key) < 1:
                raise ConfigError(f"confidence.{key} must be at least 1, not {getattr(out, key)}")
        return out


def _ensemble(settings: dict[str, Any]) -> Any:
    from engine.signals.ensemble import EnsembleSettings

    return EnsembleSettings.from_mapping(settings)


def model_needs(
    timeframe: str, settings: dict[str, Any], min_train: int, block: int
) -> tuple[str, int]:
    """The current recipe's spec for ``timeframe`` and the bars a live row needs (run by the
    engine: the names come from the feature code)."""
    from engine.signals import evidence as ev
    from engine.signals.outcomes import higher_chain

    s = _ensemble(settings)
    higher = higher_chain(timeframe)
    spec = ev.model_spec(s, higher, s.horizon_bars, min_train, block)
    return spec, ev.context_bars(timeframe, higher, s)


def fit_model(
    history: Any, timeframe: str, settings: dict[str, Any], min_train: int, block: int
) -> dict[str, Any]:
    """A model fitted on ``history`` as the store keeps it (``model``, ``report``, ``spec``,
    ``through_ts_ns``, ``bars``), or ``{"error": why}`` when the bars cannot make one."""
    from engine.signals.evidence import fit_signal_model

    s = _ensemble(settings)
    try:
        m = fit_signal_model(
            history, timeframe, s.horizon_bars, s, min_train=min_train, block=block
        )
    except ValueError as exc:
        return {"error": str(exc)}
    return {
        "model": m.as_dict(),
        "report": m.report,
        "spec": m.spec,
        "through_ts_ns": m.through_ts_ns,
        "bars": m.bars,
    }


def scan_frames(
    frames: dict[str, Any],
    timeframe: str,
    settings: dict[str, Any],
    backend: str,
    models: dict[str, dict[str, Any]] | None = None,
) -> list[Signal]:
    """The signals of the scan the runtime and the screen's manual ``scan`` share (run by the
    engine). ``settings`` is the plain ``signals`` section (numbers, no secrets: it may cross
    to the worker process). ``models`` (symbol -> stored model: ``model``, ``report``,
    ``through_ts_ns``, ``bars``, ``version``) make those symbols' confidence the learnt
    probability. Only the signals come back: a scan result's types live in modules that import
    numba, which the UI process must not import just to read an answer."""
    from engine.signals.scanner import qpe_detector, scan

    s = _ensemble(settings)
    detector = qpe_detector(backend)
    results = scan(frames, timeframe, s, detector)
    signals = [result.signal for result in results if result.signal is not None]
    if not models:
        return signals
    from engine.signals.evidence import SignalModel, apply_evidence, score

    out = []
    for signal in signals:
        stored = models.get(signal.symbol)
        if stored is not None:
            model = SignalModel.from_stored(
                stored["model"],
                stored["report"],
                stored["through_ts_ns"],
                stored["bars"],
                stored["version"],
            )
            evidence = score(model, frames[signal.symbol], s)
            if evidence is not None:
                signal = apply_evidence(signal, evidence, s)
            else:
                note = "rule-made confidence: the learnt model's context is still warming up"
                signal = replace(signal, reasons=(note, *signal.reasons))
        out.append(signal)
    return out


class SignalPipeline:
    def __init__(
        self,
        store: Store,
        venue: str,
        settings: dict[str, Any],
        on_signal: Callable[[Signal], None],
        prepare: Callable[[str, str, int], Awaitable[None]] | None = None,
        bars: int = 256,
        backend: str = "statevector",
        learning: LearningSettings | None = None,
        on_model: Callable[[str, str, Any, bool], None] | None = None,
    ) -> None:
        self.store = store
        self.venue = venue
        self.settings = settings
        self.on_signal = on_signal
        self.prepare = prepare
        """Awaited before a symbol's scan reads the store, with the bars it will read (the
        runtime stores that much history)."""
        self.bars = bars
        self.backend = backend
        self.learning = learning if learning is not None else LearningSettings(learnt=False)
        self.on_model = on_model
        """Told ``(symbol, timeframe, stored model, fitted)`` when a symbol's model comes in:
        ``fitted`` True for a new fit, False for one read from the store."""
        self.scans = 0
        self.skipped = 0
        self.failures = 0
        self.fits = 0
        self._due: dict[tuple[str, str], int] = {}
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._needs: dict[str, tuple[str, int]] = {}
        self._models: dict[tuple[str, str], Any] = {}
        self._looked_up: set[tuple[str, str]] = set()
        self._unfit: dict[tuple[str, str], tuple[int, str]] = {}
        """Symbols whose bars could not make a model: the newest bar's time then, and why."""

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

    def model(self, symbol: str, timeframe: str) -> Any:
        """The stored model the symbol's signals are scored with, if any."""
        return self._models.get((symbol, timeframe))

    def with_news(self, symbol: str, timeframe: str, frame: Any) -> Any:
        """``frame`` with the symbol's news sentiment at each bar's close (blocking: the store
        is read; call it off the event loop)."""
        half_life = float(self.settings.get("sentiment_half_life_s", HALF_LIFE_S))
        return attach_news(frame, timeframe, half_life, partial(self.store.news.scores, symbol))

    def _bars(self, symbol: str, timeframe: str, n: int) -> Any:
        frame = self.store.candles.last(symbol, timeframe, n, self.venue)
        return self.with_news(symbol, timeframe, frame)

    def model_note(self, symbol: str, timeframe: str) -> str:
        """Why the symbol has no learnt model ("" when it has one or was not scanned yet)."""
        if (symbol, timeframe) in self._models:
            return ""
        unfit = self._unfit.get((symbol, timeframe))
        if unfit is not None:
            return unfit[1]
        return "" if self.learning.learnt else "learnt confidence is off ([confidence] learnt)"

    async def _scan(self, symbol: str, timeframe: str) -> None:
        try:
            need, history = self.bars, self.bars
            if self.learning.learnt:
                need = max(need, (await self._needs_of(timeframe))[1])
                history = max(need, self.learning.history_bars)
            if self.prepare is not None:
                await self.prepare(symbol, timeframe, history)
            frame = await asyncio.to_thread(self._bars, symbol, timeframe, need)
            models = None
            if self.learning.learnt and frame.height:
                model = await self._current_model(symbol, timeframe, int(frame["ts"][-1]))
                if model is not None:
                    models = {symbol: _payload(model)}
            signals = await run_engine(
                scan_frames, {symbol: frame}, timeframe, self.settings, self.backend, models
            )
        except Exception:
            self.failures += 1
            log.exception("signal scan of %s %s failed", symbol, timeframe)
            return
        self.scans += 1
        for signal in signals:
            if models is None and self.learning.learnt:
                note = self.model_note(symbol, timeframe) or "no learnt model yet"
                signal = replace(signal, reasons=(f"rule-made confidence: {note}", *signal.reasons))
            self.on_signal(signal)

    async def _needs_of(self, timeframe: str) -> tuple[str, int]:
        if timeframe not in self._needs:
            self._needs[timeframe] = await run_engine(
                model_needs, timeframe, self.settings, self.learning.min_train, self.learning.block
            )
        return self._needs[timeframe]

    @property
    def _horizon(self) -> int:
        """The bars a signal's confidence is about (``signals.horizon_bars``)."""
        return int(self.settings.get("horizon_bars", 4))

    def _refit_ns(self, timeframe: str) -> int:
        """How far the newest bar may run ahead of what a model has seen before a refit."""
        return self.learning.refit_bars * parse(timeframe).ns

    def _fresh(self, model: Any, spec: str, latest_ts: int, timeframe: str) -> bool:
        if model is None or model.spec != spec or model.horizon != self._horizon:
            return False
        return latest_ts - model.through_ts_ns < self._refit_ns(timeframe)

    async def _current_model(self, symbol: str, timeframe: str, latest_ts: int) -> Any:
        """The model to score with now: the cached one, the store's newest, or a new fit."""
        key = (symbol, timeframe)
        spec, _context = await self._needs_of(timeframe)
        horizon = self._horizon
        model = self._models.get(key)
        if not self._fresh(model, spec, latest_ts, timeframe) and key not in self._looked_up:
            self._looked_up.add(key)
            stored = await asyncio.to_thread(
                self.store.models.latest, self.venue, symbol, timeframe, horizon, spec
            )
            if stored is not None:
                model = self._models[key] = stored
                if self.on_model is not None and self._fresh(model, spec, latest_ts, timeframe):
                    self.on_model(symbol, timeframe, stored, False)
        if self._fresh(model, spec, latest_ts, timeframe):
            return model
        unfit = self._unfit.get(key)
        if unfit is not None and latest_ts - unfit[0] < self._refit_ns(timeframe):
            return model
        history = await asyncio.to_thread(self._bars, symbol, timeframe, self.learning.history_bars)
        fitted = await run_engine(
            fit_model,
            history,
            timeframe,
            self.settings,
            self.learning.min_train,
            self.learning.block,
        )
        if "error" in fitted:
            reason = f"no learnt model: {fitted['error']}"
            if key not in self._unfit:
                log.info("%s %s: %s", symbol, timeframe, reason)
            self._unfit[key] = (latest_ts, reason)
            return model
        self._unfit.pop(key, None)
        saved = await asyncio.to_thread(
            self.store.models.save,
            self.venue,
            symbol,
            timeframe,
            horizon,
            spec=fitted["spec"],
            through_ts_ns=fitted["through_ts_ns"],
            bars=fitted["bars"],
            model=fitted["model"],
            report=fitted["report"],
        )
        self.fits += 1
        self._models[key] = saved
        if self.on_model is not None:
            self.on_model(symbol, timeframe, saved, True)
        return saved


def _payload(model: Any) -> dict[str, Any]:
    return {
        "model": model.model,
        "report": model.report,
        "through_ts_ns": model.through_ts_ns,
        "bars": model.bars,
        "version": model.version,
    }
