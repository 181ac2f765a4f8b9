"""Backtest a strategy over OHLCV bars with backtesting.py's semantics.

The strategy sees bar ``t`` at its close; a market order fills at bar ``t+1``'s open (or bar
``t``'s close with ``trade_on_close``); commission is a fraction of traded value charged on
entry and on exit; stop-loss/take-profit are checked intrabar against high/low, the stop-loss
first when both could trigger. The broker itself is :mod:`engine.backtest.broker_sim` (numba). A
strategy with ``vectorized`` runs entirely inside one compiled loop; otherwise ``on_bar`` is
called from Python once per bar after the warm-up, with the same broker kernels.

Options beyond the reference: slippage (a fixed price amount, plus a fraction of the ATR known
at the previous close), a lot size for fractional units, long-only, and a cap on open trades.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from engine.backtest import broker_sim as bs
from engine.backtest.performance import compute_stats, drawdown_curve
from engine.model import Cycle, Fill, Side, to_decimal
from engine.strategy import (
    Context,
    Indicators,
    OrderIntent,
    PositionView,
    Strategy,
    StrategyError,
    VectorOrders,
    handle_result,
)
from engine.strategy.context import IndicatorSeries

CAP = 256
"""Closed-trade rows a run starts with (the tables grow as trades close)."""


class BacktestError(ValueError):
    """Bad input to a backtest (missing columns, NaN prices, bad options)."""


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """Broker settings; defaults are backtesting.py's ``Backtest`` defaults."""

    cash: float = 10_000.0
    commission: float = 0.0
    commission_fixed: float = 0.0
    spread: float = 0.0
    slippage: float = 0.0
    slippage_atr: float = 0.0
    margin: float = 1.0
    trade_on_close: bool = False
    hedging: bool = False
    exclusive_orders: bool = False
    finalize_trades: bool = False
    allow_short: bool = True
    lot: float = 1.0
    max_trades: int = 1_000
    risk_per_trade: float = 0.01
    vectorized: bool = True

    def __post_init__(self) -> None:
        if not self.cash > 0:
            raise BacktestError(f"cash must be positive, got {self.cash}")
        if not 0 < self.margin <= 1:
            raise BacktestError(f"margin must be in (0, 1], got {self.margin}")
        if not -0.1 <= self.commission < 0.1:
            raise BacktestError(f"commission must be in [-0.1, 0.1), got {self.commission}")
        if self.commission_fixed < 0 or self.spread < 0 or self.slippage < 0:
            raise BacktestError("fixed commission, spread and slippage must be >= 0")
        if self.slippage_atr < 0:
            raise BacktestError("slippage_atr must be >= 0")
        if not self.lot > 0:
            raise BacktestError(f"lot must be positive, got {self.lot}")
        if self.max_trades < 1:
            raise BacktestError("max_trades must be >= 1")

    def describe(self) -> str:
        """``cash 10,000 · lot 0.001 · commission 0.002``: what a report says it used, unrounded."""
        return (
            f"cash {_plain(self.cash, grouped=True)} · lot {_plain(self.lot)}"
            f" · commission {_plain(self.commission)}"
        )

    def kernel_params(self) -> np.ndarray:
        p = np.zeros(bs.P_LEN)
        p[bs.P_SPREAD] = self.spread
        p[bs.P_COMM_FIXED] = self.commission_fixed
        p[bs.P_COMM_REL] = self.commission
        p[bs.P_LEVERAGE] = 1.0 / self.margin
        p[bs.P_TRADE_ON_CLOSE] = self.trade_on_close
        p[bs.P_HEDGING] = self.hedging
        p[bs.P_EXCLUSIVE] = self.exclusive_orders
        p[bs.P_LOT] = self.lot
        p[bs.P_ALLOW_SHORT] = self.allow_short
        p[bs.P_FINALIZE] = self.finalize_trades
        return p


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """Equity and drawdown per bar, the closed trades, open trades at the end, and stats;
    ``fills`` every fill in order (bar, trade id, signed size, price, fee, exit, and the
    reference price before slippage and spread), for attribution; ``indicators`` those the
    strategy asked ``Indicators`` for, over every bar (for reports; not in :meth:`to_dict`)."""

    stats: dict[str, Any]
    equity: np.ndarray
    drawdown: np.ndarray
    trades: pl.DataFrame
    open_trades: pl.DataFrame
    ts: np.ndarray
    strategy: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    cancelled_orders: int = 0
    config: BacktestConfig | None = None
    fills: pl.DataFrame = field(default_factory=lambda: _fills_frame(np.zeros((0, bs.FL_COLS))))
    indicators: tuple[IndicatorSeries, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"stats": {...}, "trades": [...]}`` (plus strategy, params and the
        cash, lot and commission used); an undefined statistic is null, ``stats["undefined"]``
        says why."""
        config = self.config or BacktestConfig()
        return {
            "strategy": self.strategy,
            "params": self.params,
            "config": {"cash": config.cash, "lot": config.lot, "commission": config.commission},
            "stats": {k: json_value(v) for k, v in self.stats.items()},
            "trades": [
                {k: json_value(v) for k, v in row.items()} for row in self.trades.to_dicts()
            ],
            "open_trades": [
                {k: json_value(v) for k, v in row.items()} for row in self.open_trades.to_dicts()
            ],
        }


def _plain(x: float, grouped: bool = False) -> str:
    """``x`` as written, no exponent, no rounding: 10000.0 -> ``10000``, 1e-05 -> ``0.00001``."""
    text = format(Decimal(repr(float(x))), ",f" if grouped else "f")
    return text[:-2] if text.endswith(".0") else text


def json_value(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def _arrays(bars: pl.DataFrame) -> dict[str, np.ndarray]:
    missing = [c for c in ("open", "high", "low", "close") if c not in bars.columns]
    if missing:
        raise BacktestError(f"bars lack column(s) {', '.join(missing)}")
    if bars.height == 0:
        raise BacktestError("no bars to backtest")
    cols: dict[str, np.ndarray] = {}
    for name in ("open", "high", "low", "close", "volume"):
        if name in bars.columns:
            cols[name] = np.ascontiguousarray(bars[name].cast(pl.Float64).to_numpy())
        else:
            cols[name] = np.full(bars.height, np.nan)
    for name in ("open", "high", "low", "close"):
        x = cols[name]
        if np.all(x > 0) and math.isfinite(float(x.max())):
            continue
        bad = ~np.isfinite(x) | (x <= 0)
        if bad.any():
            raise BacktestError(
                f"{int(bad.sum())} bar(s) have a missing or non-positive {name} price "
                f"(first at row {int(np.argmax(bad))}); clean or drop them first"
            )
    if "ts" in bars.columns:
        cols["ts"] = bars["ts"].cast(pl.Int64).to_numpy()
        if len(cols["ts"]) > 1 and np.any(np.diff(cols["ts"]) <= 0):
            raise BacktestError("bar timestamps must be strictly increasing")
    else:
        cols["ts"] = np.arange(bars.height, dtype=np.int64)
    return cols


def _slippage(cols: Mapping[str, np.ndarray], config: BacktestConfig) -> np.ndarray:
    slip = np.zeros(len(cols["close"]))
    if config.slippage:
        slip += config.slippage
    if config.slippage_atr > 0:
        from engine.signals.indicators import atr

        a = atr(cols["high"], cols["low"], cols["close"], 14)
        prev = np.concatenate(([np.nan], a[:-1]))
        slip += config.slippage_atr * np.nan_to_num(prev, nan=0.0)
    return slip


class BacktestContext(Context):
    """The :class:`Context` the backtester gives ``on_bar``: reads from the kernel state."""

    def __init__(
        self,
        run: _Run,
        symbol: str,
        timeframe: str,
        risk_per_trade: float,
        cycles: Any = None,
    ) -> None:
        super().__init__()
        self._run = run
        self.symbol = symbol
        self.timeframe = timeframe
        self.risk_per_trade = risk_per_trade
        self._i = 0
        self._indicators = Indicators(run.cols, lambda: self._i)
        self._cycles = cycles

    @property
    def bar_index(self) -> int:
        return self._i

    @property
    def ts_ns(self) -> int:
        return int(self._run.cols["ts"][self._i])

    @property
    def price(self) -> float:
        return float(self._run.cols["close"][self._i])

    @property
    def indicators(self) -> Indicators:
        return self._indicators

    @property
    def cycles(self) -> Sequence[Cycle]:
        """The runner's cycles if given (a sequence, or a callable of the bar index); else the
        dominant cycle of the last 64 log-returns (the periodogram, i.e. statevector QPE)."""
        if self._cycles is not None:
            cyc = self._cycles(self._i) if callable(self._cycles) else self._cycles
            return tuple(cyc)
        window = 64
        if self._i < window:
            return ()
        from engine.signals.ensemble import classical_cycles

        close = self._run.cols["close"][self._i - window : self._i + 1]
        cycle, _phase = classical_cycles(np.diff(np.log(close))[None, :])[0]
        return () if cycle is None else (cycle,)

    @property
    def position(self) -> PositionView:
        tr = self._run.TR[: int(self._run.S[bs.S_NT])]
        if len(tr) == 0:
            return PositionView()
        size = float(tr[:, 1].sum())
        price = self.price
        pl_ = float((tr[:, 1] * (price - tr[:, 2])).sum())
        avg = float((tr[:, 1] * tr[:, 2]).sum() / size) if size else math.nan
        return PositionView(size=size, avg_price=avg, pl=pl_, trades=len(tr))

    @property
    def equity(self) -> float:
        return float(bs.equity(self._run.TR, self._run.S, self.price))

    @property
    def cash(self) -> float:
        return float(self._run.S[bs.S_CASH])


@dataclass(slots=True)
class _Run:
    cols: dict[str, np.ndarray]
    TR: np.ndarray
    OR: np.ndarray
    CT: np.ndarray
    FL: np.ndarray
    S: np.ndarray
    P: np.ndarray
    EQ: np.ndarray
    slip: np.ndarray

    def ensure_room(self) -> None:
        """Grow the closed-trade and fill tables so one more bar surely fits."""
        need = int(bs.room_needed(self.S))
        if self.S[bs.S_NC] + need > self.CT.shape[0]:
            self.CT = bs.grow(self.CT, 2 * self.CT.shape[0] + need)
        if self.S[bs.S_NF] + 2 * need > self.FL.shape[0]:
            self.FL = bs.grow(self.FL, 2 * self.FL.shape[0] + 2 * need)

    def step(self, i: int) -> None:
        c = self.cols
        bs.step(
            i,
            c["open"],
            c["high"],
            c["low"],
            c["close"],
            self.slip,
            self.TR,
            self.OR,
            self.CT,
            self.FL,
            self.S,
            self.P,
            self.EQ,
        )

    def finalize(self) -> None:
        self.ensure_room()
        c = self.cols
        bs.finalize(len(c["close"]), c["open"], c["high"], c["low"], c["close"], self.slip,
                    self.TR, self.OR, self.CT, self.FL, self.S, self.P, self.EQ)  # fmt: skip

    def place(self, intent: OrderIntent) -> None:
        if intent.kind == "close":
            bs.place_close(self.TR, self.OR, self.S, self.P, intent.portion)
        else:
            if intent.qty is not None:
                size, is_frac = intent.qty, False
                if intent.risk is not None:  # sized from risk: round down to the lot, like live
                    lot = float(self.P[bs.P_LOT])
                    size = math.floor(size / lot) * lot
                    if not size > 0:  # below one lot: the order cannot exist
                        self.S[bs.S_CANCELLED] += 1
                        return
            else:
                size = intent.size if intent.size is not None else 1.0
                is_frac = size < 1
            bs.place_entry(
                self.TR,
                self.OR,
                self.S,
                self.P,
                intent.side * size,
                is_frac,
                _nan(intent.limit),
                _nan(intent.stop),
                _nan(intent.sl),
                _nan(intent.tp),
            )
        if self.S[bs.S_OVERFLOW]:
            raise StrategyError(f"more than {self.OR.shape[0]} orders queued at once")


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def run_backtest(
    strategy: Strategy,
    bars: pl.DataFrame,
    config: BacktestConfig | None = None,
    *,
    symbol: str = "",
    cycles: Any = None,
    warmup: int | None = None,
) -> BacktestResult:
    """Run ``strategy`` over ``bars`` (OHLCV frame, oldest first). See the module doc.
    ``warmup`` overrides the strategy's own (walk-forward test windows wait longer)."""
    config = config or BacktestConfig()
    cols = _arrays(bars)
    n = len(cols["close"])
    warmup = max(int(strategy.warmup if warmup is None else warmup), 0)
    TR, OR, CT, FL, S = bs.new_state(
        config.cash, config.max_trades, 3 * config.max_trades + 64, CAP
    )
    run = _Run(
        cols,
        TR,
        OR,
        CT,
        FL,
        S,
        config.kernel_params(),
        np.full(n, float(config.cash)),
        _slippage(cols, config),
    )
    frame = bars
    name = strategy.name or type(strategy).__name__

    vec: VectorOrders | None = None
    indicators = Indicators(cols, lambda: n - 1)
    if config.vectorized:
        vec = strategy.vectorized(frame, indicators)
    if vec is not None:
        _run_vectorized(run, vec, warmup, n)
    else:
        indicators = _run_per_bar(run, strategy, frame, config, warmup, n, symbol, cycles, name)

    outcome = summarise(cols, run.CT, run.TR, run.S, run.EQ, config, warmup)
    return BacktestResult(
        stats=outcome.stats,
        equity=run.EQ,
        drawdown=outcome.drawdown,
        trades=outcome.trades,
        open_trades=outcome.open_trades,
        ts=cols["ts"],
        strategy=name,
        params=dict(strategy.params),
        cancelled_orders=int(run.S[bs.S_CANCELLED]),
        config=config,
        fills=_fills_frame(run.FL[: int(run.S[bs.S_NF])]),
        indicators=indicators.used(),
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a finished kernel run adds up to: its closed and open trades, drawdown and stats."""

    trades: pl.DataFrame
    open_trades: pl.DataFrame
    drawdown: np.ndarray
    stats: dict[str, Any]


def summarise(
    cols: Mapping[str, np.ndarray],
    CT: np.ndarray,
    TR: np.ndarray,
    S: np.ndarray,
    EQ: np.ndarray,
    config: BacktestConfig,
    warmup: int,
) -> Outcome:
    """The trades and stats of a kernel state after its last bar (a single run and every
    combination of a sweep add up the same way)."""
    nc, nt = int(S[bs.S_NC]), int(S[bs.S_NT])
    trades = _trades_frame(CT[:nc], cols["ts"], config)
    open_tr = TR[:nt]
    last = cols["close"][-1]
    open_trades = pl.DataFrame(
        {
            "size": open_tr[:, 1],
            "entry_bar": open_tr[:, 3].astype(np.int64),
            "entry_time": cols["ts"][open_tr[:, 3].astype(np.int64)],
            "entry_price": open_tr[:, 2],
            "sl": open_tr[:, 6],
            "tp": open_tr[:, 7],
            "unrealized_pnl": open_tr[:, 1] * (last - open_tr[:, 2]),
        }
    )
    drawdown = drawdown_curve(EQ)
    stats = compute_stats(
        equity=EQ,
        ts=cols["ts"],
        close=cols["close"],
        trades=trades,
        open_entry_bars=open_tr[:, 3].astype(np.int64),
        warmup=warmup,
        drawdown=drawdown,
    )
    return Outcome(trades, open_trades, drawdown, stats)


VectorArrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""side, close, size, is_frac, sl, tp as the kernel takes them (see :func:`vector_arrays`)."""


def vector_arrays(vec: VectorOrders, n: int) -> VectorArrays:
    """A strategy's :class:`VectorOrders` checked and laid out for ``bs.run_vectorized``:
    ``side`` int8 and ``close`` bool over the ``n`` bars; ``size``, ``is_frac``, ``sl`` and
    ``tp`` per bar or of length 1 (one value for every bar)."""
    side = np.ascontiguousarray(vec.side, dtype=np.int8)
    if side.shape != (n,):
        raise StrategyError(f"vectorized side has shape {side.shape}, expected ({n},)")
    close = (
        np.zeros(n, dtype=np.bool_)
        if vec.close is None
        else np.ascontiguousarray(vec.close, dtype=np.bool_)
    )
    # scalars travel as length-1 arrays (the kernel broadcasts them)
    size = np.atleast_1d(np.asarray(vec.size, dtype=np.float64))
    if size.shape not in ((1,), (n,)):
        raise StrategyError(f"vectorized size has shape {size.shape}, expected () or ({n},)")
    chosen = size if len(size) == 1 else size[side != 0]
    if np.any(~((chosen > 0) & ((chosen < 1) | (chosen == np.floor(chosen))))):
        raise StrategyError("vectorized size must be a fraction in (0, 1) or whole units")
    is_frac = (size < 1).astype(np.int8)
    none = np.full(1, np.nan)
    sl = none if vec.sl is None else np.ascontiguousarray(vec.sl, dtype=np.float64)
    tp = none if vec.tp is None else np.ascontiguousarray(vec.tp, dtype=np.float64)
    if close.shape != (n,):
        raise StrategyError(f"vectorized close has shape {close.shape}, expected ({n},)")
    for label, arr in (("sl", sl), ("tp", tp)):
        if arr.shape not in ((1,), (n,)):
            raise StrategyError(f"vectorized {label} has shape {arr.shape}, expected ({n},)")
    return side, close, size, is_frac, sl, tp


def _run_vectorized(run: _Run, vec: VectorOrders, warmup: int, n: int) -> None:
    side, close, size, is_frac, sl, tp = vector_arrays(vec, n)
    c = run.cols
    i = 0
    while i < n:
        i = bs.run_vectorized(
            i, c["open"], c["high"], c["low"], c["close"], run.slip, side, close, size,
            is_frac, sl, tp, warmup, run.TR, run.OR, run.CT, run.FL, run.S, run.P, run.EQ,
        )  # fmt: skip
        if i < n:
            run.ensure_room()
    if run.P[bs.P_FINALIZE] and warmup < n:
        run.finalize()


def _run_per_bar(
    run: _Run,
    strategy: Strategy,
    frame: pl.DataFrame,
    config: BacktestConfig,
    warmup: int,
    n: int,
    symbol: str,
    cycles: Any,
    name: str,
) -> Indicators:
    """Call ``on_bar`` bar by bar; the indicators it asked for."""
    ctx = BacktestContext(run, symbol, strategy.timeframe, config.risk_per_trade, cycles)
    _call(name, "on_start", strategy.on_start, ctx)
    seen = 0

    def deliver_fills(seen: int) -> int:
        nf = int(run.S[bs.S_NF])
        for row in run.FL[seen:nf]:
            _call(name, "on_fill", strategy.on_fill, ctx, _fill(row, run.cols["ts"], symbol))
        return nf

    S, EQ, TR = run.S, run.EQ, run.TR
    c = run.cols["close"]
    s_no, s_nf, s_stopped = bs.S_NO, bs.S_NF, bs.S_STOPPED
    mark, on_bar = bs.mark, strategy.on_bar
    for i in range(n):
        # a bar with nothing queued only marks to market (cheaper than a full step)
        if S[s_no] or not mark(i, c, TR, S, EQ):
            run.ensure_room()
            run.step(i)
        ctx._i = i
        if S[s_nf] > seen:
            seen = deliver_fills(seen)
        if S[s_stopped]:
            break
        if i < warmup:
            continue
        try:
            result = on_bar(ctx, frame.slice(0, i + 1))
        except StrategyError:
            raise
        except Exception as exc:
            raise _hook_error(name, "on_bar", exc) from exc
        if result is not None:
            handle_result(ctx, result)
        if ctx.intents:
            for intent in ctx.take_intents():
                run.place(intent)
    if config.finalize_trades and warmup < n:
        run.finalize()
        deliver_fills(seen)
    _call(name, "on_stop", strategy.on_stop, ctx)
    return ctx.indicators


def _call(name: str, hook: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except StrategyError:
        raise
    except Exception as exc:
        raise _hook_error(name, hook, exc) from exc


def _hook_error(name: str, hook: str, exc: Exception) -> StrategyError:
    return StrategyError(f"strategy {name!r} raised in {hook}: {exc!r}\n{traceback.format_exc()}")


def _fill(row: np.ndarray, ts: np.ndarray, symbol: str) -> Fill:
    bar = int(row[0])
    qty = float(row[2])
    return Fill(
        client_id=f"bt-{int(row[1])}-{'exit' if row[5] else 'entry'}",
        symbol=symbol,
        side=Side.BUY if qty > 0 else Side.SELL,
        qty=to_decimal(abs(qty)),
        price=to_decimal(float(row[3])),
        fee=to_decimal(float(row[4])),
        ts_ns=int(ts[bar]),
        fill_id=f"{int(row[1])}-{bar}-{int(row[5])}",
    )


def _fills_frame(fl: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "bar": fl[:, 0].astype(np.int64),
            "trade": fl[:, 1].astype(np.int64),
            "size": fl[:, 2],
            "price": fl[:, 3],
            "fee": fl[:, 4],
            "exit": fl[:, 5] > 0,
            "reference": fl[:, 6],
        }
    )


def _trades_frame(ct: np.ndarray, ts: np.ndarray, config: BacktestConfig) -> pl.DataFrame:
    size = ct[:, 0]
    entry_bar = ct[:, 1].astype(np.int64)
    exit_bar = ct[:, 2].astype(np.int64)
    entry_price, exit_price = ct[:, 3], ct[:, 4]
    fees = ct[:, 7]
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = np.sign(size) * (exit_price / entry_price - 1) - fees / (np.abs(size) * entry_price)
    return pl.DataFrame(
        {
            "size": size,
            "entry_bar": entry_bar,
            "exit_bar": exit_bar,
            "entry_time": ts[entry_bar],
            "exit_time": ts[exit_bar],
            "entry_price": entry_price,
            "exit_price": exit_price,
            "sl": ct[:, 5],
            "tp": ct[:, 6],
            "pnl": ct[:, 8],
            "fees": fees,
            "return_pct": ret * 100,
        },
        schema={
            "size": pl.Float64,
            "entry_bar": pl.Int64,
            "exit_bar": pl.Int64,
            "entry_time": pl.Int64,
            "exit_time": pl.Int64,
            "entry_price": pl.Float64,
            "exit_price": pl.Float64,
            "sl": pl.Float64,
            "tp": pl.Float64,
            "pnl": pl.Float64,
            "fees": pl.Float64,
            "return_pct": pl.Float64,
        },
    )
