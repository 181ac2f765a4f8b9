"""MetaTrader 5 through the official ``MetaTrader5`` Python package (Windows, ``qws[mt5]``).

The package talks to a running terminal over IPC and is synchronous and not thread-safe, so
every call runs on one dedicated worker thread (:attr:`Mt5Feed._exec`): history requests and
the live poll share it, and the event loop never blocks. Live data is polled: new ticks from
``copy_ticks_from`` since the last tick seen (``time_msc``), and the last closed bar from
``copy_rates_from_pos(symbol, tf, 1, 1)``. Failures come back from the package as None/False
with the reason in ``last_error()``; they become one clear :class:`FeedError` sentence.

Times: MT5 reports bar and tick times as seconds in the trade server's clock; brokers often
run it at UTC+2/+3. ``server_utc_offset_s`` is subtracted so everything downstream is UTC.

Symbols: brokers name instruments their own way (``XTIUSD``, ``XTIUSD.m``); ``symbol_map``
(the setting ``feeds.mt5.symbol_map``, qws symbol -> the terminal's) translates both ways: qws
asks for WTI, the terminal is asked for XTIUSD, and what comes back is WTI again. Names not in
the map pass unchanged.

On Linux and macOS, run ``qws bridge mt5`` next to the terminal (Windows or Wine) and use
``--feed bridge`` here (:mod:`feeds.mt5.bridge_client`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, ClassVar

import numpy as np
import polars as pl

from engine.model import Bar, Instrument, SymbolMap, Tick
from engine.protocols import FeedEvent
from engine.timeframes import OHLCV_SCHEMA, empty_ohlcv, parse
from feeds.errors import FeedError
from feeds.health import FeedHealth

_NS = 1_000_000_000
TIMEFRAMES = {
    "1m": "TIMEFRAME_M1", "2m": "TIMEFRAME_M2", "3m": "TIMEFRAME_M3", "4m": "TIMEFRAME_M4",
    "5m": "TIMEFRAME_M5", "6m": "TIMEFRAME_M6", "10m": "TIMEFRAME_M10",
    "12m": "TIMEFRAME_M12", "15m": "TIMEFRAME_M15", "20m": "TIMEFRAME_M20",
    "30m": "TIMEFRAME_M30", "1h": "TIMEFRAME_H1", "2h": "TIMEFRAME_H2", "3h": "TIMEFRAME_H3",
    "4h": "TIMEFRAME_H4", "6h": "TIMEFRAME_H6", "8h": "TIMEFRAME_H8", "12h": "TIMEFRAME_H12",
    "1d": "TIMEFRAME_D1", "1w": "TIMEFRAME_W1",
}  # fmt: skip
_ERRORS = {
    -1: "generic failure",
    -2: "invalid parameters",
    -3: "out of memory",
    -4: "not found",
    -5: "terminal version not supported",
    -6: "authorization failed: check login, password and server",
    -7: "not supported",
    -8: "auto-trading disabled in the terminal",
    -10000: "internal terminal failure",
    -10001: "IPC send failed",
    -10002: "IPC receive failed",
    -10003: "IPC initialisation failed: is the terminal installed?",
    -10004: "no IPC connection: is the terminal running?",
    -10005: "IPC timeout: the terminal did not answer",
}
_TICK_BATCH = 1000
_BAR_BATCH = 16


def describe_error(error: tuple[int, str] | None) -> str:
    code, text = error if error else (0, "unknown")
    known = _ERRORS.get(code)
    return f"{known} ({code}: {text})" if known else f"{text} ({code})"


def _units(lots: float, contract: Decimal) -> Decimal:
    """A volume in lots as base units, written plainly: 0.01 lots of 100,000 -> 1000."""
    d = (Decimal(repr(lots)) * contract).normalize()
    exponent = d.as_tuple().exponent
    return d.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else d


def _import_mt5() -> Any:
    try:
        import MetaTrader5
    except ImportError:
        raise FeedError(
            "the MetaTrader5 package is not available here (it runs only on Windows next to"
            " the MT5 terminal): install qws[mt5] there and run `qws bridge mt5`, then use"
            " `qws run --feed bridge --url ws://HOST:8765` on this machine"
        ) from None
    return MetaTrader5


def rates_to_frame(rates: np.ndarray, offset_s: int = 0) -> pl.DataFrame:
    """MT5 rates (structured array) -> OHLCV; volume is real volume where the broker has it,
    else tick volume (forex brokers report only ticks)."""
    if rates is None or len(rates) == 0:
        return empty_ohlcv()
    real = rates["real_volume"].astype(np.float64)
    ticks = rates["tick_volume"].astype(np.float64)
    return pl.DataFrame(
        {
            "ts": (rates["time"].astype(np.int64) - offset_s) * _NS,
            "open": rates["open"],
            "high": rates["high"],
            "low": rates["low"],
            "close": rates["close"],
            "volume": np.where(real > 0, real, ticks),
        },
        schema=OHLCV_SCHEMA,
    )


class Mt5Feed:
    """MetaTrader 5. Registered as entry point ``qws.feeds:mt5``.

    ``Mt5Feed(login=None, password=None, server=None, path=None, symbols=(), *,
    poll_interval_s=0.1, timeout_ms=10_000, server_utc_offset_s=0, symbol_map=None)``;
    credentials are
    passed in (the CLI reads them from the keyring or the environment), never read here.
    """

    name = "mt5"
    venue = "mt5"
    secrets: ClassVar[dict[str, tuple[str, str]]] = {"password": ("mt5", "password")}

    def __init__(
        self,
        login: int | None = None,
        password: str | None = None,
        server: str | None = None,
        path: str | None = None,
        symbols: Sequence[str] | None = (),
        *,
        poll_interval_s: float = 0.1,
        timeout_ms: int = 10_000,
        server_utc_offset_s: int = 0,
        symbol_map: Mapping[str, str] | None = None,
        log_every_s: float = 60.0,
        clock: Callable[[], int] = time.time_ns,
        **_: object,
    ) -> None:
        self.login = int(login) if login else None
        self._password = password
        self.server = server or None
        self.path = path or None
        self.default_symbols = list(symbols or ())
        self.poll_interval_s = poll_interval_s
        self.timeout_ms = timeout_ms
        self.offset_s = int(server_utc_offset_s)
        self.symbol_map = SymbolMap.of(symbol_map)
        self.clock = clock
        self.health = FeedHealth("mt5", log_every_s=log_every_s)
        self._exec = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mt5")
        self._mt5: Any = None
        self._connected = False
        self._symbols: list[str] = []
        self._closed = False

    def __repr__(self) -> str:  # never show the password
        return f"Mt5Feed(login={self.login}, server={self.server!r})"

    # -- the worker thread -------------------------------------------------------------------
    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._exec, fn, *args)

    def _error(self, what: str) -> FeedError:
        return FeedError(f"MetaTrader 5 {what} failed: {describe_error(self._mt5.last_error())}")

    def _connect_sync(self) -> list[str]:
        if self._connected:
            return self._symbols
        mt5 = self._mt5 = _import_mt5()
        kwargs: dict[str, Any] = {"timeout": self.timeout_ms}
        if self.login is not None:
            kwargs.update(login=self.login, password=self._password or "", server=self.server)
        ok = mt5.initialize(self.path, **kwargs) if self.path else mt5.initialize(**kwargs)
        if not ok:
            raise self._error("initialize")
        infos = mt5.symbols_get()
        if infos is None:
            raise self._error("symbols_get")
        self._symbols = [self.symbol_map.ours(s.name) for s in infos]
        self._connected = True
        self.health.state = "live"
        self.health.connects += 1
        return self._symbols

    async def connect(self) -> list[str]:
        """Initialise the terminal connection; returns the terminal's symbols."""
        return await self._call(self._connect_sync)

    def _tf(self, timeframe: str) -> int:
        tf = str(parse(timeframe))
        name = TIMEFRAMES.get(tf)
        if name is None:
            raise FeedError(f"MetaTrader 5 has no {tf} bars; use one of {', '.join(TIMEFRAMES)}")
        return int(getattr(self._mt5, name))

    def _select(self, symbol: str) -> str:
        """Select a qws symbol in the terminal; returns the terminal's name for it."""
        name = self.symbol_map.venue(symbol)
        if not self._mt5.symbol_select(name, True):
            raise FeedError(
                f"MetaTrader 5 has no symbol {self.symbol_map.describe(symbol)!r}"
                f" ({describe_error(self._mt5.last_error())})"
            )
        return name

    # -- Feed protocol -----------------------------------------------------------------------
    def symbols(self) -> list[str]:
        """The configured symbols, else the terminal's (connecting now if need be: the app asks
        once at start, before its event loop runs)."""
        if self.default_symbols:
            return list(self.default_symbols)
        if not self._connected and not self._closed:
            try:
                self._exec.submit(self._connect_sync).result(timeout=self.timeout_ms / 1000 + 5)
            except FeedError as exc:
                self.health.last_error = str(exc)
                return []
        return list(self._symbols)

    def _instrument_sync(self, symbol: str) -> Instrument:
        self._connect_sync()
        info = self._mt5.symbol_info(self.symbol_map.venue(symbol))
        if info is None:
            raise FeedError(f"MetaTrader 5 has no symbol {self.symbol_map.describe(symbol)!r}")
        # quantities are in the base unit everywhere in qws (barrels, euros), MT5 volumes in
        # lots of trade_contract_size: the lot is one volume step of contracts
        contract = Decimal(repr(info.trade_contract_size or 1.0))
        return Instrument(
            symbol,
            "mt5",
            Decimal(repr(info.trade_tick_size or info.point)),
            _units(info.volume_step, contract),
            info.currency_profit,
            info.currency_base,
            _units(info.volume_min, contract),
            Decimal(0),
            "cfd",
        )

    def instrument(self, symbol: str) -> Instrument:
        """Tick and lot sizes from ``symbol_info`` (a quick IPC call on the worker thread), the
        lot and minimum in the base unit (``volume_step`` x ``trade_contract_size``);
        KeyError for a symbol the terminal does not have, as the demo feed does."""
        try:
            return self._exec.submit(self._instrument_sync, symbol).result(
                timeout=self.timeout_ms / 1000 + 5
            )
        except FeedError as exc:
            raise KeyError(str(exc)) from None

    async def history(
        self, symbol: str, timeframe: str, start: int | None = None, limit: int | None = None
    ) -> pl.DataFrame:
        """Closed bars: the latest ``limit`` (500), or from ``start`` (ns) on."""

        def run() -> pl.DataFrame:
            self._connect_sync()
            tf = self._tf(timeframe)
            name = self._select(symbol)
            if start is None:
                rates = self._mt5.copy_rates_from_pos(name, tf, 1, limit or 500)
                if rates is None:
                    raise self._error(f"copy_rates_from_pos({symbol})")
                return rates_to_frame(rates, self.offset_s)
            t0 = start // _NS + self.offset_s
            t1 = self.clock() // _NS + self.offset_s
            rates = self._mt5.copy_rates_range(name, tf, t0, t1)
            if rates is None:
                raise self._error(f"copy_rates_range({symbol})")
            frame = rates_to_frame(rates, self.offset_s)
            closed_before = parse(timeframe).bucket(self.clock())
            frame = frame.filter((pl.col("ts") >= start) & (pl.col("ts") < closed_before))
            return frame.head(limit) if limit is not None else frame

        return await self._call(run)

    def stream(self, symbols: Sequence[str], timeframe: str = "1m") -> AsyncIterator[FeedEvent]:
        return self._stream(list(symbols) or self.default_symbols, timeframe)

    async def _stream(self, symbols: list[str], timeframe: str) -> AsyncIterator[FeedEvent]:
        tf_name = str(parse(timeframe))

        def start() -> dict[str, list[int]]:
            self._connect_sync()
            tf = self._tf(tf_name)
            state: dict[str, list[int]] = {}
            for s in symbols:
                name = self._select(s)
                tick = self._mt5.symbol_info_tick(name)
                last_msc = int(tick.time_msc) if tick is not None else 0
                recent = self._mt5.copy_ticks_from(
                    name, last_msc // 1000, _TICK_BATCH, self._mt5.COPY_TICKS_ALL
                )
                seen = (
                    0 if recent is None else int(np.count_nonzero(recent["time_msc"] == last_msc))
                )
                bar = self._mt5.copy_rates_from_pos(name, tf, 1, 1)
                last_bar = int(bar["time"][-1]) if bar is not None and len(bar) else 0
                state[s] = [last_msc, last_bar, tf, seen]
            return state

        state = await self._call(start)
        while not self._closed:
            events = await self._call(self._poll, state, tf_name)
            for event in events:
                yield event
            await asyncio.sleep(self.poll_interval_s)

    def _poll(self, state: dict[str, list[int]], timeframe: str) -> list[FeedEvent]:
        """One poll on the worker thread: new ticks and newly closed bars of every symbol."""
        mt5 = self._mt5
        out: list[FeedEvent] = []
        for symbol, st in state.items():  # keyed by the qws symbol
            last_msc, last_bar, tf, seen = st
            name = self.symbol_map.venue(symbol)
            ticks = mt5.copy_ticks_from(name, last_msc // 1000, _TICK_BATCH, mt5.COPY_TICKS_ALL)
            if ticks is None:
                self.health.drop(
                    "mt5_error", f"copy_ticks_from: {describe_error(mt5.last_error())}"
                )
            else:
                # several ticks can share a millisecond: skip only those already delivered
                same = ticks[ticks["time_msc"] == last_msc][seen:]
                fresh = np.concatenate([same, ticks[ticks["time_msc"] > last_msc]])
                for t in fresh:
                    tick = self._tick(symbol, t)
                    if tick is not None:
                        out.append(tick)
                if len(fresh):
                    newest = int(fresh["time_msc"][-1])
                    at_newest = int(np.count_nonzero(fresh["time_msc"] == newest))
                    st[0], st[3] = newest, (seen + at_newest if newest == last_msc else at_newest)
            # every bar closed since the last poll, not just the latest one
            rates = mt5.copy_rates_from_pos(name, tf, 1, _BAR_BATCH)
            if rates is None:
                self.health.drop("mt5_error", f"copy_rates: {describe_error(mt5.last_error())}")
            elif len(rates):
                for r in rates[rates["time"] > last_bar]:
                    bar = self._bar(symbol, timeframe, r)
                    if bar is not None:
                        out.append(bar)
                st[1] = max(last_bar, int(rates["time"][-1]))
        self.health.messages += len(out)
        if out:
            self.health.last_message_at = self.health.clock()
        return out

    def _tick(self, symbol: str, t: Any) -> Tick | None:
        bid, ask, last = float(t["bid"]), float(t["ask"]), float(t["last"])
        if not (math.isfinite(bid) and math.isfinite(ask)) or bid <= 0 or ask <= 0:
            if last > 0 and math.isfinite(last):  # a trade-only tick (exchange instruments)
                bid = ask = math.nan
            else:
                self.health.drop("zero_price" if bid == 0 or ask == 0 else "nan_price", symbol)
                return None
        elif ask < bid:
            self.health.drop("crossed_quote", f"{symbol} bid {bid} > ask {ask}")
            return None
        ts = (int(t["time_msc"]) - self.offset_s * 1000) * 1_000_000
        return Tick(ts, symbol, bid, ask, last if last > 0 else math.nan, float(t["volume_real"]))

    def _bar(self, symbol: str, timeframe: str, r: Any) -> Bar | None:
        o, h, lo, c = (float(r[f]) for f in ("open", "high", "low", "close"))
        if not all(math.isfinite(x) and x > 0 for x in (o, h, lo, c)):
            self.health.drop("nan_price", f"{symbol} bar")
            return None
        real, ticks = float(r["real_volume"]), float(r["tick_volume"])
        ts = (int(r["time"]) - self.offset_s) * _NS
        return Bar(ts, symbol, timeframe, o, h, lo, c, real if real > 0 else ticks, True)

    async def close(self) -> None:
        self._closed = True
        if self._connected:
            await self._call(self._mt5.shutdown)
            self._connected = False
        self._exec.shutdown(wait=False)
        self.health.state = "closed"
