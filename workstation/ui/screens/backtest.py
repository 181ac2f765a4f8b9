"""The backtest screen: strategy, parameters and data in; progress, stats, equity and trades out.

The bars come from the market data the screen is given; the run happens on the engine thread
(the engine is loaded there, never on the UI thread). One backtest is one engine call that
cannot report its own progress, so while it runs the bar is indeterminate and the stats line
says which step is under way and for how long. Cash, commission and lot start from the
``[backtest]`` settings, as ``qws backtest``'s do; a blank lot is the instrument's lot size.
Opened by a command that names a strategy, it runs at once. "Save report" (ctrl+s) writes the
last run's HTML report (``workstation.reports``) to ``reports_dir`` in a thread worker.
"""

from __future__ import annotations

import copy
import math
import re
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Input,
    Label,
    ProgressBar,
    Select,
    Sparkline,
    Static,
)

from engine.commands import TIMEFRAMES, CommandError, _param_value
from engine.model import step_decimals, to_decimal
from widgets.prices import price_text
from workstation.runtime.config import DEFAULTS, BacktestDefaults, ConfigError, Settings
from workstation.ui.screens.services import MarketData, instrument_of

KEY_STATS = (
    ("return_pct", "Return %", "{:+.2f}"),
    ("buy_hold_pct", "Buy&Hold %", "{:+.2f}"),
    ("sharpe", "Sharpe", "{:.2f}"),
    ("max_drawdown_pct", "Max DD %", "{:.2f}"),
    ("trades", "Trades", "{:d}"),
    ("win_rate_pct", "Win %", "{:.1f}"),
    ("profit_factor", "Profit factor", "{:.2f}"),
    ("equity_final", "Equity", "{:,.2f}"),
)


def format_stats(stats: dict[str, Any]) -> str:
    """The key statistics on one line; one without a value is ``n/a`` and why, never ``nan``."""
    from engine.backtest.performance import UNDEFINED

    undefined = stats.get(UNDEFINED, {})
    parts = []
    for key, label, fmt in KEY_STATS:
        value = stats.get(key)
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            reason = undefined.get(key)
            text = f"n/a ({reason})" if reason else "n/a"
        else:
            try:
                text = fmt.format(value)
            except (TypeError, ValueError):
                text = str(value)
        parts.append(f"[b]{label}[/b] {text}")
    return "  ".join(parts)


def _run(
    strategy: str,
    params: dict[str, Any],
    bars: Any,
    costs: tuple[float, float, float],
    symbol: str,
) -> Any:
    from engine.backtest.backtester import BacktestConfig, run_backtest
    from workstation.strategies.discovery import create

    cash, lot, commission = costs
    config = BacktestConfig(cash=cash, lot=lot, commission=commission)
    return run_backtest(create(strategy, params), bars, config, symbol=symbol)


def _number(name: str, text: str) -> float:
    """``text`` as a number, exactly as typed; a ValueError that names the field otherwise."""
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"{name} must be a number, got {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"{name} must be a number, got {text!r}")
    return float(value)


def _plain(x: float) -> str:
    text = f"{Decimal(repr(float(x))):f}"
    return text[:-2] if text.endswith(".0") else text


def strategy_names() -> list[str]:
    from workstation.strategies.discovery import discover

    return [info.name for info in discover() if info.enabled]


def default_params(name: str) -> str:
    """``"fast=10 slow=20"``: the strategy's declared defaults, shown as the params hint."""
    from workstation.strategies.discovery import discover

    for info in discover():
        if info.name == name:
            return " ".join(f"{k}={p.default}" for k, p in info.params.items())
    return ""


def parse_params(text: str) -> dict[str, Any]:
    """``"fast=10 slow=30"`` -> ``{"fast": 10, "slow": 30}``; a CommandError for anything else."""
    params: dict[str, Any] = {}
    for token in text.replace(",", " ").split():
        key, sep, raw = token.partition("=")
        if not sep or not key or not raw:
            raise CommandError(f"a parameter looks like key=value, got {token!r}")
        params[key] = _param_value(raw)
    return params


class BacktestScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="backtest.close"),
        Binding("ctrl+r", "run", "Run", id="backtest.run"),
        Binding("ctrl+s", "save_report", "Save report", id="backtest.save_report"),
    ]

    def __init__(
        self,
        market: MarketData,
        symbol: str,
        timeframe: str = "1m",
        strategy: str = "sma_cross",
        params: dict[str, Any] | None = None,
        settings: Settings | None = None,
        run_now: bool = False,
        reports_dir: Path | None = None,
    ) -> None:
        """``reports_dir``: where "save report" writes (default: ``reports`` in the data
        folder)."""
        super().__init__(id="backtest")
        self.market = market
        self.symbols = list(market.symbols())
        self.symbol = symbol if symbol in self.symbols else self.symbols[0]
        self.timeframe = timeframe if timeframe in TIMEFRAMES else "1m"
        self.strategy = strategy
        self.params = params or {}
        self.run_now = run_now
        self.result: Any = None
        self.ran: tuple[Any, str, str] | None = None
        """The last run's bars, symbol and timeframe (what its report needs beside it)."""
        self.reports_dir = reports_dir
        self.settings_error = ""
        try:
            self.defaults = BacktestDefaults.of(settings or Settings(copy.deepcopy(DEFAULTS)))
        except ConfigError as exc:
            self.settings_error = f"{exc}; using the built-in defaults"
            self.defaults = BacktestDefaults.of(Settings(copy.deepcopy(DEFAULTS)))

    def compose(self) -> ComposeResult:
        params = " ".join(f"{k}={v}" for k, v in self.params.items())
        with Vertical(id="bt-body"):
            with Grid(id="bt-form"):
                yield Label("Strategy")
                names = strategy_names()
                if self.strategy not in names:
                    names = [self.strategy, *names]
                yield Select([(n, n) for n in names], value=self.strategy, allow_blank=False,
                             compact=True, id="bt-strategy")  # fmt: skip
                yield Label("Params")
                hint = default_params(self.strategy) or "key=value ..."
                yield Input(params, placeholder=hint, compact=True, id="bt-params")
                yield Label("Symbol")
                yield Select([(s, s) for s in self.symbols], value=self.symbol,
                             allow_blank=False, compact=True, id="bt-symbol")  # fmt: skip
                yield Label("Timeframe")
                yield Select([(t, t) for t in TIMEFRAMES], value=self.timeframe,
                             allow_blank=False, compact=True, id="bt-timeframe")  # fmt: skip
                yield Label("Bars")
                yield Input("2000", compact=True, id="bt-bars")
                yield Label("Cash")
                yield Input(_plain(self.defaults.cash), compact=True, id="bt-cash")
                yield Label("Lot")
                lot = _plain(self.defaults.lot) if self.defaults.lot > 0 else ""
                yield Input(lot, placeholder=self._lot_hint(self.symbol), compact=True,
                            id="bt-lot")  # fmt: skip
                yield Label("Commission")
                yield Input(_plain(self.defaults.commission), compact=True, id="bt-commission")
            with Horizontal(id="bt-run-row"):
                yield Button("Run", variant="primary", compact=True, id="bt-run")
                yield Button("Save report", compact=True, id="bt-save")
                yield ProgressBar(total=100, show_eta=False, id="bt-progress")
            yield Static(
                self.settings_error or "choose a strategy and press Run (ctrl+r)", id="bt-stats"
            )
            yield Sparkline([], id="bt-equity")
            yield DataTable(id="bt-trades", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#bt-trades", DataTable)
        for col in ("Entry", "Exit", "Side", "Qty", "Entry px", "Exit px", "P&L"):
            table.add_column(col)
        if self.run_now:
            self.action_run()

    def _instrument_lot(self, symbol: str) -> float | None:
        try:
            return float(instrument_of(self.market, symbol).lot_size)
        except (KeyError, ValueError, AttributeError):
            return None

    def _lot_hint(self, symbol: str) -> str:
        known = self._instrument_lot(symbol)
        return f"instrument's: {_plain(known)}" if known else "1 unit"

    @on(Select.Changed, "#bt-symbol")
    def _symbol_changed(self, event: Select.Changed) -> None:
        self.query_one("#bt-lot", Input).placeholder = self._lot_hint(str(event.value))

    @on(Select.Changed, "#bt-strategy")
    def _strategy_changed(self, event: Select.Changed) -> None:
        box = self.query_one("#bt-params", Input)
        box.placeholder = default_params(str(event.value)) or "key=value ..."

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#bt-run")
    def _run_pressed(self) -> None:
        self.action_run()

    def action_run(self) -> None:
        stats = self.query_one("#bt-stats", Static)
        try:
            params = parse_params(self.query_one("#bt-params", Input).value)
            bars = int(self.query_one("#bt-bars", Input).value)
            if bars < 50:
                raise ValueError("at least 50 bars")
            symbol = str(self.query_one("#bt-symbol", Select).value)
            cash = _number("cash", self.query_one("#bt-cash", Input).value)
            if not cash > 0:
                raise ValueError(f"cash must be positive, got {_plain(cash)}")
            lot_text = self.query_one("#bt-lot", Input).value
            if lot_text.strip():
                lot = _number("lot", lot_text)
                if not lot > 0:
                    raise ValueError(f"lot must be positive, got {_plain(lot)}")
            else:
                lot = self.defaults.lot_for(self._instrument_lot(symbol))
            commission = _number("commission", self.query_one("#bt-commission", Input).value)
        except (CommandError, ValueError) as exc:
            stats.update(f"[red]{exc}[/red]")
            return
        strategy = str(self.query_one("#bt-strategy", Select).value)
        timeframe = str(self.query_one("#bt-timeframe", Select).value)
        self.run_backtest(strategy, params, symbol, timeframe, bars, (cash, lot, commission))

    @work(exclusive=True, group="backtest")
    async def run_backtest(
        self,
        strategy: str,
        params: dict[str, Any],
        symbol: str,
        timeframe: str,
        bars: int,
        costs: tuple[float, float, float],
    ) -> None:
        """Load the bars, then run on the engine; ``costs`` is (cash, lot, commission)."""
        from engine.backtest.backtester import BacktestError
        from engine.strategy import StrategyError
        from workstation.runtime.engine_thread import EngineError, run_engine
        from workstation.strategies.discovery import StrategyNotFound

        progress = self.query_one("#bt-progress", ProgressBar)
        stats = self.query_one("#bt-stats", Static)
        started = time.monotonic()
        step = f"loading {symbol} {timeframe} bars"

        def show_step() -> None:
            stats.update(f"{step}… {time.monotonic() - started:.0f}s")

        progress.update(total=None)
        show_step()
        ticker = self.set_interval(1.0, show_step)
        try:
            try:
                frame = await self.market.history(symbol, timeframe, limit=bars)
            except Exception as exc:
                stats.update(f"[red]no {timeframe} history for {symbol}: {exc}[/red]")
                progress.update(total=100, progress=0)
                return
            step = f"running {strategy} on {symbol} {timeframe}, {frame.height:,} bars"
            show_step()
            try:
                result = await run_engine(_run, strategy, params, frame, costs, symbol)
            except (
                BacktestError,
                StrategyError,
                StrategyNotFound,
                EngineError,
                TypeError,
                ValueError,
            ) as exc:
                stats.update(f"[red]{exc}[/red]")
                progress.update(total=100, progress=0)
                return
        finally:
            ticker.stop()
        self.result = result
        self.ran = (frame, symbol, timeframe)
        self.show_result(result, symbol, timeframe, frame.height)
        progress.update(total=100, progress=100)

    @on(Button.Pressed, "#bt-save")
    def _save_pressed(self) -> None:
        self.action_save_report()

    def action_save_report(self) -> None:
        if self.result is None or self.ran is None:
            self.notify("run a backtest first (ctrl+r), then save its report", severity="warning")
            return
        frame, symbol, timeframe = self.ran
        folder = self.reports_dir
        if folder is None:
            from workstation.runtime.config import data_dir

            folder = data_dir() / "reports"
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{self.result.strategy}-{symbol}-{stamp}")
        self.save_report(self.result, frame, symbol, timeframe, folder / f"{name}.html")

    @work(thread=True, exclusive=True, group="backtest-report")
    def save_report(
        self, result: Any, frame: Any, symbol: str, timeframe: str, path: Path
    ) -> Path | None:
        """Build and write the report off the UI thread; say where it went (or why not)."""
        from workstation.reports.backtest import backtest_report
        from workstation.reports.html import ReportError, write_html

        params = ", ".join(f"{k}={v}" for k, v in result.params.items())
        title = f"{result.strategy}({params}) on {symbol} {timeframe}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            written = write_html(
                backtest_report(result, frame, symbol=symbol, title=title), path, title
            )
        except (ReportError, OSError) as exc:
            self.app.call_from_thread(
                self.notify, f"report not written: {exc}", severity="error", timeout=10
            )
            return None
        self.app.call_from_thread(self.notify, f"report written: {written}", timeout=10)
        return written

    def show_result(self, result: Any, symbol: str, timeframe: str, bars: int) -> None:
        params = ", ".join(f"{k}={v}" for k, v in result.params.items())
        used = result.config.describe() if result.config is not None else ""
        head = f"{result.strategy}({params}) on {symbol} {timeframe}, {bars:,} bars · {used}\n"
        self.query_one("#bt-stats", Static).update(head + format_stats(result.stats))
        equity = result.equity
        step = max(1, len(equity) // 400)
        self.query_one("#bt-equity", Sparkline).data = [float(x) for x in equity[::step]]
        table = self.query_one("#bt-trades", DataTable)
        table.clear()
        decimals = self._price_decimals(symbol)
        lot = result.config.lot if result.config is not None else None
        qty_decimals = step_decimals(to_decimal(lot)) if lot else None  # sizes are whole lots
        for row in result.trades.tail(500).iter_rows(named=True):
            side = "long" if row["size"] > 0 else "short"
            table.add_row(
                _stamp(row["entry_time"]), _stamp(row["exit_time"]), side,
                price_text(abs(row["size"]), qty_decimals),
                price_text(row["entry_price"], decimals),
                price_text(row["exit_price"], decimals), f"{row['pnl']:,.2f}",
            )  # fmt: skip

    def _price_decimals(self, symbol: str) -> int | None:
        """The instrument's price decimals, else None: every digit the prices have."""
        try:
            return instrument_of(self.market, symbol).price_decimals
        except (KeyError, ValueError, AttributeError):
            return None


def _stamp(ts: Any) -> str:
    import time

    try:
        return time.strftime("%m-%d %H:%M", time.gmtime(int(ts) / 1e9))
    except (TypeError, ValueError):
        return str(ts)
