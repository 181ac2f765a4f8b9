"""The backtest screen: strategy, parameters and data in; progress, stats, equity and trades out.

The run happens in a thread worker (the engine is loaded there, never on the UI thread);
progress reaches the bar through ``call_from_thread``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
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


def backtest_available() -> bool:
    return importlib.util.find_spec("engine.backtest") is not None


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
    ]

    def __init__(
        self,
        symbols: Sequence[str],
        symbol: str,
        timeframe: str = "1m",
        strategy: str = "sma_cross",
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(id="backtest")
        self.symbols = list(symbols)
        self.symbol = symbol if symbol in self.symbols else self.symbols[0]
        self.timeframe = timeframe if timeframe in TIMEFRAMES else "1m"
        self.strategy = strategy
        self.params = params or {}
        self.result: Any = None

    def compose(self) -> ComposeResult:
        params = " ".join(f"{k}={v}" for k, v in self.params.items())
        with Vertical(id="bt-body"):
            with Grid(id="bt-form"):
                yield Label("Strategy")
                yield Input(self.strategy, compact=True, id="bt-strategy")
                yield Label("Params")
                yield Input(params, placeholder="fast=10 slow=30", compact=True, id="bt-params")
                yield Label("Symbol")
                yield Select([(s, s) for s in self.symbols], value=self.symbol,
                             allow_blank=False, compact=True, id="bt-symbol")  # fmt: skip
                yield Label("Timeframe")
                yield Select([(t, t) for t in TIMEFRAMES], value=self.timeframe,
                             allow_blank=False, compact=True, id="bt-timeframe")  # fmt: skip
                yield Label("Bars")
                yield Input("5000", compact=True, id="bt-bars")
            with Horizontal(id="bt-run-row"):
                yield Button("Run", variant="primary", compact=True, id="bt-run")
                yield ProgressBar(total=100, show_eta=False, id="bt-progress")
            yield Static(self._idle_text(), id="bt-stats")
            yield Sparkline([], id="bt-equity")
            yield DataTable(id="bt-trades", cursor_type="row")
        yield Footer()

    def _idle_text(self) -> str:
        if backtest_available():
            return "choose a strategy and press Run (ctrl+r)"
        return "backtest engine not available yet (engine/backtest.py, issue 5)"

    def on_mount(self) -> None:
        table = self.query_one("#bt-trades", DataTable)
        for col in ("Entry", "Exit", "Side", "Qty", "Entry px", "Exit px", "P&L"):
            table.add_column(col)

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
        except (CommandError, ValueError) as exc:
            stats.update(f"[red]{exc}[/red]")
            return
        if not backtest_available():
            stats.update(f"[yellow]{self._idle_text()}[/yellow]")
            return
        strategy = self.query_one("#bt-strategy", Input).value.strip()
        symbol = str(self.query_one("#bt-symbol", Select).value)
        timeframe = str(self.query_one("#bt-timeframe", Select).value)
        stats.update(f"running {strategy} on {symbol} {timeframe}…")
        self.query_one("#bt-progress", ProgressBar).update(progress=0)
        self.run_backtest(strategy, params, symbol, timeframe, bars)

    @work(exclusive=True, thread=True, group="backtest")
    def run_backtest(
        self, strategy: str, params: dict[str, Any], symbol: str, timeframe: str, bars: int
    ) -> None:
        raise NotImplementedError  # replaced when engine/backtest.py lands
