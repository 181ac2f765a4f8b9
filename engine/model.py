"""Domain values shared by every layer.

Units are explicit: time is UTC nanoseconds since the epoch (``ts_ns``), prices are in the
instrument's quote currency, quantities in its base unit. The engine computes on float64
arrays; where an order crosses to a broker, prices and quantities become ``Decimal`` and must
sit on the instrument's tick and lot grid (see :meth:`Instrument.check_price`), never rounded
silently.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation


class ModelError(ValueError):
    """A domain value that cannot exist (negative price, quantity off the lot grid, ...)."""


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """Exact decimal of a user/broker number; floats go through ``repr`` so 0.1 stays 0.1."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ModelError(f"not a finite number: {value!r}")
        return Decimal(repr(value))
    try:
        d = Decimal(value)
    except (InvalidOperation, TypeError) as exc:
        raise ModelError(f"not a number: {value!r}") from exc
    if not d.is_finite():
        raise ModelError(f"not a finite number: {value!r}")
    return d


def step_decimals(step: Decimal) -> int:
    """Digits after the point of a finite ``step`` (``Decimal("0.01")`` -> 2, ``5`` -> 0)."""
    exponent = step.normalize().as_tuple().exponent
    if not isinstance(exponent, int):  # "n"/"N"/"F": NaN or infinity, never a valid step
        raise ModelError(f"not a finite step size: {step}")
    return max(0, -exponent)


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    venue: str
    tick_size: Decimal
    lot_size: Decimal
    quote_ccy: str
    base_ccy: str = ""
    min_qty: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)
    asset_class: str = "crypto"

    def __post_init__(self) -> None:
        for name in ("tick_size", "lot_size", "min_qty", "min_notional"):
            object.__setattr__(self, name, to_decimal(getattr(self, name)))
        if self.tick_size <= 0 or self.lot_size <= 0:
            raise ModelError(f"{self.symbol}: tick and lot size must be positive")

    @property
    def price_decimals(self) -> int:
        return step_decimals(self.tick_size)

    @property
    def qty_decimals(self) -> int:
        return step_decimals(self.lot_size)

    @property
    def tick_value(self) -> Decimal:
        """What one tick is worth on one lot, in the quote currency (a micro WTI: 1 USD)."""
        return self.tick_size * self.lot_size

    def round_price(self, price: float | Decimal | str) -> Decimal:
        """Nearest price on the tick grid (for display and suggestions; orders use check_price)."""
        p = to_decimal(price)
        return (p / self.tick_size).to_integral_value(ROUND_HALF_EVEN) * self.tick_size

    def round_qty(self, qty: float | Decimal | str) -> Decimal:
        """Largest quantity on the lot grid not above ``qty`` (never sizes a position up)."""
        q = to_decimal(qty)
        return (q / self.lot_size).to_integral_value(ROUND_DOWN) * self.lot_size

    def check_price(self, price: float | Decimal | str) -> Decimal:
        """The price as a Decimal if it is on the tick grid; otherwise a ModelError."""
        p = to_decimal(price)
        if p <= 0:
            raise ModelError(f"{self.symbol}: price must be positive, got {p}")
        if p % self.tick_size != 0:
            raise ModelError(
                f"{self.symbol}: price {p} is not a multiple of the tick size {self.tick_size}"
                f" (nearest: {self.round_price(p)})"
            )
        return p

    def check_qty(self, qty: float | Decimal | str) -> Decimal:
        """The quantity as a Decimal if it is on the lot grid and above the minimum."""
        q = to_decimal(qty)
        if q <= 0:
            raise ModelError(f"{self.symbol}: quantity must be positive, got {q}")
        if q % self.lot_size != 0:
            raise ModelError(
                f"{self.symbol}: quantity {q} is not a multiple of the lot size {self.lot_size}"
                f" (largest below: {self.round_qty(q)})"
            )
        if q < self.min_qty:
            raise ModelError(f"{self.symbol}: quantity {q} is below the minimum {self.min_qty}")
        return q

    def format_price(self, price: float) -> str:
        if not math.isfinite(price):
            return "—"
        return f"{price:,.{self.price_decimals}f}"


@dataclass(frozen=True, slots=True)
class SymbolMap:
    """qws symbols <-> a venue's names for them (``feeds.mt5.symbol_map``: WTI -> XTIUSD.m,
    brokers add their suffixes). A name not in the map is the same on both sides."""

    pairs: tuple[tuple[str, str], ...] = ()
    _out: dict[str, str] = field(init=False, repr=False, compare=False)
    _in: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        out = dict(self.pairs)
        back: dict[str, str] = {}
        for ours, theirs in out.items():
            if not ours or not theirs or not isinstance(theirs, str):
                raise ModelError(f"symbol map: {ours!r} -> {theirs!r} needs two names")
            if theirs in back:
                raise ModelError(f"symbol map: {back[theirs]} and {ours} both map to {theirs}")
            back[theirs] = ours
        object.__setattr__(self, "_out", out)
        object.__setattr__(self, "_in", back)

    @classmethod
    def of(cls, mapping: Mapping[str, str] | None) -> SymbolMap:
        return cls(tuple((str(k), v) for k, v in (mapping or {}).items()))

    def venue(self, symbol: str) -> str:
        """The venue's name for a qws symbol."""
        return self._out.get(symbol, symbol)

    def ours(self, venue_symbol: str) -> str:
        """The qws symbol for a venue's name."""
        return self._in.get(venue_symbol, venue_symbol)

    def describe(self, symbol: str) -> str:
        """``XTIUSD.m (WTI in the symbol map)`` for a mapped symbol, else the symbol."""
        theirs = self.venue(symbol)
        return f"{theirs} ({symbol} in the symbol map)" if theirs != symbol else symbol


@dataclass(frozen=True, slots=True)
class Tick:
    """A top-of-book quote and/or trade. ``last`` may be NaN on quote-only venues."""

    ts_ns: int
    symbol: str
    bid: float
    ask: float
    last: float
    volume: float = 0.0

    @property
    def mid(self) -> float:
        if math.isfinite(self.bid) and math.isfinite(self.ask):
            return (self.bid + self.ask) / 2.0
        return self.last

    @property
    def spread(self) -> float:
        return self.ask - self.bid


@dataclass(frozen=True, slots=True)
class Bar:
    ts_ns: int
    symbol: str
    timeframe: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    closed: bool = True


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: float
    size: float


@dataclass(frozen=True, slots=True)
class OrderBook:
    """A depth snapshot: bids best-first (descending), asks best-first (ascending)."""

    ts_ns: int
    symbol: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]


class Action(enum.StrEnum):
    WAIT = "WAIT"
    OPEN_LONG = "OPEN_LONG"
    OPEN_SHORT = "OPEN_SHORT"
    CLOSE = "CLOSE"


@dataclass(frozen=True, slots=True)
class Cycle:
    """A dominant cycle from the phase spectrum: period in bars, share of non-DC power, bin k."""

    period_bars: float
    strength: float
    k: int


@dataclass(frozen=True, slots=True)
class CyclePhase:
    """Where the series is within a cycle (classical least-squares fit at a known period)."""

    period_bars: float
    phase: float  # radians in [0, 2π); 0 = peak of cos
    amplitude: float
    bars_to_trough: float
    bars_to_peak: float


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a learnt confidence stands on (issue 17): ``probability`` that the signal's side
    (``direction``: +1 up, -1 down) is right ``horizon`` bars on, learnt from the instrument's
    own past by model ``version``; ``cases`` comparable past cases scored out of sample (the
    walk-forward cases whose forecast fell in the same confidence bucket), ``hits`` how many of
    them were right on this side, and the Wilson 95 % interval of that hit rate."""

    probability: float
    direction: int
    cases: int
    hits: int
    low: float
    high: float
    horizon: int
    version: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ModelError(f"probability must be in [0, 1], got {self.probability}")
        if self.direction not in (1, -1):
            raise ModelError(f"direction must be +1 or -1, got {self.direction}")
        if not 0 <= self.hits <= self.cases:
            raise ModelError(f"need 0 <= hits <= cases, got {self.hits} of {self.cases}")
        if not 0.0 <= self.low <= self.high <= 1.0:
            raise ModelError(f"interval must lie in [0, 1], got [{self.low}, {self.high}]")
        if self.horizon < 1:
            raise ModelError(f"horizon must be >= 1 bar, got {self.horizon}")

    @property
    def hit_rate(self) -> float:
        return self.hits / self.cases if self.cases else math.nan

    @property
    def plus_minus(self) -> int:
        """Half the interval's width, in whole percentage points (rounded up: never narrower
        than measured)."""
        return math.ceil(round((self.high - self.low) * 50.0, 9))

    def text(self) -> str:
        """ "58% ±4, 412 past cases (57% right), 4 bars"."""
        if self.cases == 0:
            return f"{self.probability:.0%}, no comparable past case, {self.horizon} bars"
        return (
            f"{self.probability:.0%} ±{self.plus_minus}, {self.cases:,} past cases "
            f"({self.hit_rate:.0%} right), {self.horizon} bar{'s' if self.horizon > 1 else ''}"
        )


@dataclass(frozen=True, slots=True)
class Signal:
    ts_ns: int
    symbol: str
    timeframe: str
    action: Action
    confidence: float
    price: float
    reasons: tuple[str, ...] = ()
    cycle: Cycle | None = None
    evidence: Evidence | None = None
    """Set when ``confidence`` is learnt (then it equals ``evidence.probability``)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0 or math.isnan(self.confidence):
            raise ModelError(f"confidence must be in [0, 1], got {self.confidence}")


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"


class TimeInForce(enum.StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    DAY = "DAY"


class OrderStatus(enum.StrEnum):
    NEW = "NEW"
    SUBMITTING = "SUBMITTING"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


@dataclass(frozen=True, slots=True)
class Order:
    client_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None = None
    stop: Decimal | None = None
    tif: TimeInForce = TimeInForce.GTC
    status: OrderStatus = OrderStatus.NEW
    venue: str = "paper"
    filled_qty: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    sl: Decimal | None = None
    tp: Decimal | None = None
    broker_id: str | None = None
    reason: str = ""
    ts_ns: int = 0
    strategy: str = ""
    """The strategy that sent it ('' for the user's own order): P&L attribution groups by it."""
    parent: str = ""
    """The execution-algorithm parent (TWAP/VWAP) this order is a child of, or ''."""


@dataclass(frozen=True, slots=True)
class Fill:
    client_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    ts_ns: int
    fill_id: str = ""
    fee_ccy: str = ""

    @property
    def fee_text(self) -> str:
        """The fee exactly, without trailing zeros, and its currency: ``0.542465 USDT``."""
        return f"{self.fee.normalize():,f} {self.fee_ccy}".rstrip()


@dataclass(frozen=True, slots=True)
class Position:
    symbol: str
    qty: Decimal  # signed: positive long, negative short
    avg_price: Decimal
    venue: str = "paper"
    realized_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a notifier relays: a signal, a fill, a risk event, a feed outage, a summary."""

    kind: str
    title: str
    body: str
    ts_ns: int
    severity: Severity = Severity.INFO
    symbol: str = ""
    data: dict[str, object] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What a notifier's send did. ``maybe_delivered``: the request may have reached the
    server but no answer came back (read timeout, dropped connection), so resending could
    duplicate it; ``permanent``: retrying cannot help (chat not found, bot blocked)."""

    ok: bool
    message_id: str | None = None
    error: str = ""
    retry_after_s: float | None = None
    permanent: bool = False
    maybe_delivered: bool = False


@dataclass(frozen=True, slots=True)
class NewsItem:
    """One timestamped item of a news source (``qws.sources``).

    ``key`` names the source's endpoint (its URL, or the plugin's name): with ``id`` (the
    item's guid or Atom id, else its link, else a hash of its headline and time) it identifies
    the item, so an item polled twice is stored once. ``ts_ns`` is when it was published
    (UTC ns; the time first seen when the source gives none). ``symbols`` are the instruments
    it concerns, as the source tags them or as resolved from its text; ``score`` is its
    sentiment in [-1, 1] (None until scored)."""

    key: str
    id: str
    ts_ns: int
    headline: str
    summary: str = ""
    link: str = ""
    source: str = ""  # the source's display name (a feed's title)
    symbols: tuple[str, ...] = ()
    score: float | None = None

    def __post_init__(self) -> None:
        if not self.key or not self.id:
            raise ModelError("a news item needs its source key and id")
        if self.score is not None and not -1.0 <= self.score <= 1.0:
            raise ModelError(f"news score must be in [-1, 1], got {self.score}")
