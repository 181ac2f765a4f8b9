"""The risk screen: VaR/CVaR and the stress tables of the runtime's positions, a shock typed in,
propagation switched on; and one snapshot of the screen alone on a stored history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

import workstation.ui.screens.risk as risk_screen
from engine.model import Instrument, OrderStatus, Position, Side
from engine.timeframes import OHLCV_SCHEMA
from engine.trading.stress import DAY_NS, day_ns
from tests.workstation.ui.ui_helpers import make_app, screen_up, still, wait_for
from workstation.store import Store
from workstation.trading.stress_report import RiskView, money, risk_view
from workstation.ui.screens.risk import RiskScreen, RiskSource

APP_CSS = Path(risk_screen.__file__).parent.parent / "app.tcss"
SYMBOL = "BTC/USDT"


def status(screen: RiskScreen) -> str:
    return str(screen.query_one("#risk-status", Static).render())


async def answered(screen: RiskScreen, before: int) -> None:
    await wait_for(lambda: screen.answers > before)


async def shock(pilot: Pilot, screen: RiskScreen, text: str) -> None:
    """Type ``text`` into the shock box (replacing what is there), Enter, and wait."""
    box = screen.query_one("#risk-shocks", Input)
    box.focus()
    box.value = ""
    before = screen.answers
    await pilot.press(*text, "enter")
    await answered(screen, before)


async def test_the_screen_shows_a_held_position_and_the_pnl_of_a_typed_shock(
    store: Store,
) -> None:
    app = make_app(store)
    async with app.run_test(size=(140, 44)) as pilot:
        await wait_for(lambda: app.oms is not None and app.runtime.mark(SYMBOL) is not None)
        order = app.runtime.build(SYMBOL, Side.BUY, "0.01")
        assert (await app.runtime.submit(order, confirmed=True)).status is OrderStatus.FILLED
        await pilot.press("f4")
        screen = await screen_up(app, RiskScreen)
        await wait_for(lambda: screen.view is not None)
        view = screen.view
        assert view is not None and view.ccy == "USD"
        history = screen.query_one("#risk-history", DataTable)
        worst = history.get_row("worst 1-day move:BTC/USDT")
        assert worst[:3] == ["worst 1-day move", SYMBOL, "0.01"]
        assert worst[4].startswith("-") and worst[6].startswith("worst fall ")
        assert "95% one-1h-bar VaR" in str(screen.query_one("#risk-var", Static).render())
        assert screen.query_one("#risk-shock", DataTable).row_count == 0

        await shock(pilot, screen, "btc=-50%")
        view = screen.view
        assert view is not None and view.stress.shock is not None
        [holding] = view.stress.holdings
        first = view.stress.shock.rows[0]
        assert first.pnl == D("0.01") * holding.mark * D("-0.5")
        table = screen.query_one("#risk-shock", DataTable)
        assert table.get_row("shock:BTC/USDT")[3:6] == ["-50.00%", money(first.pnl), "btc=-50%"]

        await shock(pilot, screen, "crypto=-10%")
        view = screen.view
        assert view is not None and view.stress.shock is not None
        pnl = view.stress.shock.rows[0].pnl
        assert pnl == D("0.01") * view.stress.holdings[0].mark * D("-0.1") and pnl != first.pnl
        assert table.get_row("shock:BTC/USDT")[4] == money(pnl)

        await shock(pilot, screen, "ETH/USDT=-20%")  # not held: moves nothing by itself
        assert table.get_row("shock:BTC/USDT")[5] == "no shock"
        assert "shock ETH/USDT=-20% moves no position" in str(
            screen.query_one("#risk-var", Static).render()
        )
        before = screen.answers
        await pilot.press("ctrl+b")  # propagate: BTC moves by its correlation to ETH
        await answered(screen, before)
        assert table.get_row("shock:BTC/USDT")[5].startswith("propagated: β ")
        assert "propagation on" in status(screen)

        await shock(pilot, screen, "btc=-0.3")
        assert status(screen).startswith("shock 'btc=-0.3': write the move as a percentage")
        assert screen.query_one("#risk-status", Static).has_class("-error")
        assert table.get_row("shock:BTC/USDT")[5].startswith("propagated")  # kept as it was
        await pilot.press("escape")
        await wait_for(lambda: not isinstance(app.screen, RiskScreen))


async def test_the_stress_command_opens_it_with_its_shocks(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 40)):
        await wait_for(lambda: app.oms is not None)
        app.dashboard.run_command("stress BTC=-20%, crypto=-10% propagate")
        screen = await screen_up(app, RiskScreen)
        await wait_for(lambda: screen.answers > 0)
        assert screen.query_one("#risk-shocks", Input).value == "BTC=-20%,crypto=-10%"
        assert status(screen) == "no open positions: nothing at risk"
        assert screen.view is not None and screen.view.stress.unapplied[0][0] == "BTC=-20%"


# -- the snapshot: the screen alone, on a stored history -----------------------------------------
def _bars(closes: np.ndarray, start: int, step: int = DAY_NS) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": start + step * np.arange(closes.size, dtype=np.int64),
            "open": closes,
            "high": closes,
            "low": closes,
            "close": closes,
            "volume": np.ones(closes.size),
        },
        schema=OHLCV_SCHEMA,
    )


INSTRUMENTS = {
    "BTC/USDT": Instrument("BTC/USDT", "demo", D("0.01"), D("0.00001"), "USDT", "BTC"),
    "EURUSD": Instrument("EURUSD", "demo", D("0.00001"), D("1000"), "USD", "EUR", asset_class="fx"),
}


def stored_source(store: Store) -> RiskSource:
    """A compute function over ``store``: two positions, fixed marks, 300 stored days."""
    rng = np.random.default_rng(5)
    start = day_ns(date(2022, 2, 1))
    btc = rng.normal(0, 0.03, 300)
    eur = -0.05 * btc + rng.normal(0, 0.004, 300)
    for symbol, returns, first in (("BTC/USDT", btc, 40_000.0), ("EURUSD", eur, 1.1)):
        closes = first * np.cumprod(1 + returns)
        store.candles.upsert(_bars(closes, start), symbol, "1d", "demo")
        hourly = closes[-1] * np.cumprod(1 + returns[-100:] / 5)
        store.candles.upsert(_bars(hourly, start, DAY_NS // 24), symbol, "1h", "demo")
    positions = [
        Position("BTC/USDT", D("0.25"), D("39000")),
        Position("EURUSD", D("-20000"), D("1.09")),
    ]
    marks = {"BTC/USDT": 41_250.5, "EURUSD": 1.0825}

    async def compute(shocks: str, propagate: bool) -> RiskView:
        return await risk_view(
            store, positions, marks.get, INSTRUMENTS.__getitem__, None, "USD", shocks, propagate
        )

    return compute


class _Host(App[None]):
    """The risk screen alone, styled as in the workstation."""

    CSS_PATH = str(APP_CSS)

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def on_mount(self) -> None:
        source = stored_source(self.store)
        self.push_screen(RiskScreen(source, "BTC=-30%,fx=+2%", propagate=False))


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_risk_screen_snapshot(
    snap_compare: Callable[..., bool], store: Store, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot) -> None:
        screen = await screen_up(pilot.app, RiskScreen)
        await wait_for(lambda: screen.view is not None)
        await still(pilot)

    assert snap_compare(_Host(store), terminal_size=size, run_before=run_before)
