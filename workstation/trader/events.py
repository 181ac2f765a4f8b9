"""What the runtime tells its clients (the screen, the headless printer, tests), in the order
it happened. Listeners run on the runtime's event loop and must not block."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.model import Fill, NewsItem, Order, Signal


@dataclass(frozen=True, slots=True)
class Logged:
    text: str
    severity: str = "info"


@dataclass(frozen=True, slots=True)
class SignalEmitted:
    signal: Signal
    relayed: bool


@dataclass(frozen=True, slots=True)
class OrderChanged:
    order: Order


@dataclass(frozen=True, slots=True)
class Filled:
    fill: Fill


@dataclass(frozen=True, slots=True)
class KillChanged:
    engaged: bool
    actor: str
    reason: str
    cancelled: int = 0


@dataclass(frozen=True, slots=True)
class PauseChanged:
    paused: bool
    actor: str


@dataclass(frozen=True, slots=True)
class StrategyChanged:
    key: str
    running: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ModelFitted:
    """A symbol's confidence model is in: ``model`` is the stored model
    (:class:`workstation.store.models.StoredModel`: version, report, ...), ``fitted`` True for
    a new fit, False for one read from the store."""

    symbol: str
    timeframe: str
    model: Any
    fitted: bool = True


@dataclass(frozen=True, slots=True)
class EquityMarked:
    ts_ns: int
    equity: float


@dataclass(frozen=True, slots=True)
class NewsArrived:
    """Items stored for the first time by a poll of the news sources, scored and resolved to
    symbols, oldest first."""

    items: tuple[NewsItem, ...]


@dataclass(frozen=True, slots=True)
class AlgoChanged:
    """A TWAP/VWAP parent started, resumed, sent a child or ended: ``parent`` is its
    :class:`engine.trading.schedule.AlgoOrder`, ``what`` says which."""

    parent: Any
    what: str


RuntimeEvent = (
    Logged
    | SignalEmitted
    | OrderChanged
    | Filled
    | KillChanged
    | PauseChanged
    | StrategyChanged
    | EquityMarked
    | ModelFitted
    | NewsArrived
    | AlgoChanged
)
Listener = Callable[[RuntimeEvent], None]
