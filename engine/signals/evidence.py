"""A signal's confidence as a learnt probability, with the evidence behind it (issue 17).

For one instrument, timeframe and horizon, :func:`fit_signal_model` learns P(up at the horizon)
from the instrument's own bars: it walks forward over the whole history (fit on the past,
score the next block, roll on: :func:`engine.signals.probability.walk_forward`) to measure the
recipe out of sample, then fits the model the live pipeline scores with on every row whose
outcome is known (:func:`engine.signals.probability.fit_calibrated`, the very recipe the walk
measured). The walk's reliability table is kept with the model: it is where a live signal's
"comparable past cases" come from.

:func:`score` reads the last bar's feature row (:func:`engine.signals.outcomes.feature_row`)
and gives the :class:`engine.model.Evidence`: the side (up when P(up) >= 0.5), the probability
of that side, and the out-of-sample cases whose forecast fell in the same confidence bucket,
with how many were right on that side. A tie at the horizon counts as "not up" (as in
:func:`engine.signals.outcomes.outcomes`), hence as right for the short side.
:func:`apply_evidence` makes the learnt probability the signal's confidence: the quality gate
and the open threshold then mean what they say (a 0.75 is right three times in four, out of
sample, on this market).

Everything here is pure and picklable: the runtime fits in the engine worker and stores
:meth:`SignalModel.as_dict` in SQLite.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import polars as pl

from engine.model import Action, Evidence, Signal
from engine.signals import outcomes as oc
from engine.signals.calibration import CalibrationReport, calibration_report, wilson_interval
from engine.signals.ensemble import EnsembleSettings
from engine.signals.probability import CalibratedModel, fit_calibrated
from engine.timeframes import parse

RECIPE = 2
"""Bumped when the features or the fit change meaning: a stored model of another recipe is
never served (see :func:`model_spec`). 2: the ``news_sentiment`` feature."""


def model_spec(
    settings: EnsembleSettings, higher: Sequence[str], horizon: int, min_train: int, block: int
) -> str:
    """A short name for everything a model's meaning depends on: the recipe, the feature
    names, the settings they are computed with, the horizon and the walk's sizes."""
    names = oc.feature_names(tuple(higher))
    key = json.dumps([RECIPE, names, asdict(settings), horizon, min_train, block], sort_keys=True)
    return f"r{RECIPE}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


@dataclass(frozen=True, slots=True)
class SignalModel:
    """A fitted P(up at ``horizon``) for one instrument's ``timeframe``, read with the context
    timeframes ``higher``; ``report`` is its walk-forward calibration (the ``qws calibrate
    --json`` shape, plus ``gate`` and ``open`` (:func:`gate_stats` at the quality gate and at
    the open threshold: the signals a trader would be shown as OPEN), ``fits`` (the walk's) and
    ``within_003_of_base`` (the share of its probabilities that close to the training base
    rate)), ``through_ts_ns`` the open time of
    the last bar it has seen, ``bars`` how many."""

    timeframe: str
    horizon: int
    higher: tuple[str, ...]
    spec: str
    model: CalibratedModel
    report: dict[str, Any]
    through_ts_ns: int
    bars: int
    version: int = 0
    calibration: CalibrationReport | None = None
    """The walk's report itself (with each bucket's mean forecast), where just fitted; a model
    read from the store has the ``report`` dict only."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "timeframe": self.timeframe,
            "horizon": self.horizon,
            "higher": list(self.higher),
            "spec": self.spec,
            "model": self.model.as_dict(),
        }

    @classmethod
    def from_stored(
        cls,
        model: Mapping[str, Any],
        report: Mapping[str, Any],
        through_ts_ns: int,
        bars: int,
        version: int,
    ) -> SignalModel:
        """The model from what :meth:`as_dict` stored (with its report and version)."""
        try:
            return cls(
                timeframe=str(model["timeframe"]),
                horizon=int(model["horizon"]),
                higher=tuple(str(h) for h in model["higher"]),
                spec=str(model["spec"]),
                model=CalibratedModel.from_dict(model["model"]),
                report=dict(report),
                through_ts_ns=int(through_ts_ns),
                bars=int(bars),
                version=int(version),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"stored signal model is incomplete: {exc!r}") from exc


def gate_stats(p_up: np.ndarray, up: np.ndarray, gate: float, bars: int) -> dict[str, Any]:
    """Signals at or above ``gate`` (either side: P(up) >= gate or <= 1 - gate) among scored
    forecasts, how many were right, and how many there are per 1,000 ``bars``."""
    p = np.asarray(p_up, dtype=float)
    y = np.asarray(up, dtype=float)
    long_ = p >= gate
    short = (1.0 - p) >= gate
    n = int(long_.sum() + short.sum())
    hits = int(y[long_].sum() + (1.0 - y[short]).sum())
    lo, hi = wilson_interval(hits, n)
    return {
        "gate": gate,
        "n": n,
        "hits": hits,
        "hit_rate": hits / n if n else None,
        "low": lo,
        "high": hi,
        "per_1000_bars": 1000.0 * n / bars if bars else 0.0,
    }


def fit_signal_model(
    bars: pl.DataFrame,
    timeframe: str,
    horizon: int,
    settings: EnsembleSettings | None = None,
    higher: Sequence[str] | None = None,
    min_train: int = 500,
    block: int = 250,
) -> SignalModel:
    """Walk forward over ``bars`` (the report), then fit on every row whose outcome is known
    (the model). ``higher`` defaults to :func:`engine.signals.outcomes.higher_chain`. Too few
    bars: a ValueError naming how many are needed."""
    s = settings or EnsembleSettings()
    context = oc.higher_chain(timeframe) if higher is None else tuple(higher)
    fm = oc.feature_matrix(bars, s, context)
    learnt = oc.learnt_probabilities(
        bars, horizon, s, context, min_train=min_train, block=block, features=fm
    )
    known = learnt.scored & np.isfinite(learnt.y)
    if not known.any():
        raise ValueError("no scored bar has a known outcome yet")
    p_up, up, base = learnt.p_up[known], learnt.y[known], learnt.base_rate[known]
    calibration = calibration_report(p_up, up, horizon, base_rate=base)
    report = calibration.as_dict()
    report["gate"] = gate_stats(p_up, up, s.quality_gate, int(known.sum()))
    report["open"] = gate_stats(p_up, up, s.open_threshold, int(known.sum()))
    report["fits"] = learnt.fits
    report["within_003_of_base"] = float(np.mean(np.abs(p_up - base) <= 0.03))
    rows = np.flatnonzero(fm.valid)
    y = learnt.y[rows]
    usable = int(np.searchsorted(rows, len(fm) - horizon))  # rows whose outcome bar closed
    model = fit_calibrated(fm.X[rows], y, horizon, usable)
    return SignalModel(
        timeframe=timeframe,
        horizon=horizon,
        higher=context,
        spec=model_spec(s, context, horizon, min_train, block),
        model=model,
        report=report,
        through_ts_ns=int(bars["ts"][-1]),
        bars=bars.height,
        calibration=calibration,
    )


def _bucket(report: Mapping[str, Any], p_up: float) -> tuple[int, int]:
    """``(n, ups)`` of the report's bucket holding ``p_up`` (the last bucket holds 1.0)."""
    buckets = report.get("buckets") or []
    for i, b in enumerate(buckets):
        last = i == len(buckets) - 1
        if b["lo"] <= p_up < b["hi"] or (last and p_up <= b["hi"]):
            return int(b["n"]), int(b["hits"])
    return 0, 0


def score(
    model: SignalModel, bars: pl.DataFrame, settings: EnsembleSettings | None = None
) -> Evidence | None:
    """The evidence for the last bar of ``bars`` (``None`` while its features warm up: too few
    bars for the slowest context timeframe)."""
    s = settings or EnsembleSettings()
    row = oc.feature_row(bars, s, model.higher, base_bars=base_window(s))
    if not np.isfinite(row).all():
        return None
    prob, _cases = model.model.predict(row[None, :])
    p_up = float(prob[0])
    direction = 1 if p_up >= 0.5 else -1
    n, ups = _bucket(model.report, p_up)
    hits = ups if direction > 0 else n - ups
    lo, hi = wilson_interval(hits, n)
    return Evidence(
        probability=p_up if direction > 0 else 1.0 - p_up,
        direction=direction,
        cases=n,
        hits=hits,
        low=lo,
        high=hi,
        horizon=model.horizon,
        version=model.version,
    )


def apply_evidence(signal: Signal, evidence: Evidence, settings: EnsembleSettings) -> Signal:
    """The signal with the learnt probability as its confidence: OPEN on the learnt side at
    ``open_threshold``; below it a cycle-turn CLOSE stays a CLOSE, anything else WAITs. The
    analysers' reasons stay: they say what the features read; the evidence says what such
    readings were worth here."""
    if evidence.probability >= settings.open_threshold:
        action = Action.OPEN_LONG if evidence.direction > 0 else Action.OPEN_SHORT
    elif signal.action is Action.CLOSE:
        action = Action.CLOSE
    else:
        action = Action.WAIT
    return replace(signal, action=action, confidence=evidence.probability, evidence=evidence)


def base_window(settings: EnsembleSettings) -> int:
    """Bars the timeframe's own features of the last row are computed on when scoring live:
    six times their warm-up, where the last row equals the whole history's to the third
    decimal (EMA and Wilder sums have faded; measured on the demo feed)."""
    return 6 * settings.min_bars


def context_bars(timeframe: str, higher: Sequence[str], settings: EnsembleSettings) -> int:
    """Bars of ``timeframe`` the last row needs: the base features' warm-up, and enough for the
    slowest context timeframe's trend vote (ADX, the EMA slope) from closed buckets, three times
    their nominal warm-up: ADX's Wilder sums fade slowly, and a shorter window reads a 1d trend
    on 1h bars off by up to 0.14 (0.007 at this length; measured on the demo feed)."""
    base = parse(timeframe).ns
    ratio = max((parse(h).ns // base for h in higher), default=1)
    trend = max(2 * settings.adx_n + 1, settings.ema_n + settings.slope_bars) + 2
    return max(settings.min_bars + 1, int(3 * trend * ratio))


__all__ = [
    "RECIPE",
    "SignalModel",
    "apply_evidence",
    "base_window",
    "context_bars",
    "fit_signal_model",
    "gate_stats",
    "model_spec",
    "score",
]
