"""Pilot tests of the dashboard's flows on the demo feed (real app, real store, real feed)."""

from __future__ import annotations

import asyncio
import threading
from typing import TypeVar

import polars as pl
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Select, TabbedContent

from engine.model import Side
from feeds.demo import DemoFeed
from tests.workstation.ui.ui_helpers import frozen_clock, make_app, screen_up, wait_for
from widgets.chart import Chart
from widgets.command_bar import CommandBar
from widgets.cycle_panel import CyclePanel
from widgets.log_pane import LogPane
from widgets.order_book import OrderBookLadder
from widgets.orders_table import OrdersTable
from widgets.positions_table import PositionsTable
from widgets.signals_feed import SignalsFeed
from widgets.watchlist import FLASH_S, Watchlist
from workstation.runtime.config import Settings
from workstation.runtime.engine_thread import run_engine
from workstation.store import Store
from workstation.ui.app import QwsApp
from workstation.ui.screens.help import HelpScreen
from workstation.ui.screens.messages import (
    HelpRequested,
    TicketRequested,
    TradeRequested,
    UnwatchRequested,
    WatchRequested,
)
from workstation.ui.screens.order_ticket import OrderTicket
from workstation.ui.screens.symbol_search import SymbolSearch


def _log_text(app) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(text for _, text in app.dashboard.query_one(LogPane).entries)


async def test_selecting_a_symbol_charts_it_and_switches_the_book(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        chart = app.dashboard.query_one(Chart)
        await wait_for(lambda: chart.symbol == "BTC/USDT" and chart.bar_count > 0)
        await pilot.press("down")
        await wait_for(lambda: chart.symbol == "ETH/USDT" and chart.bar_count >= 600)
        assert app.dashboard.query_one(OrderBookLadder).symbol == "ETH/USDT"
        await wait_for(lambda: app.dashboard.query_one(OrderBookLadder).book is not None)
        assert "ETH/USDT 1m" in chart.readout()


async def test_timeframe_keys_reload_the_chart(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        chart = app.dashboard.query_one(Chart)
        await wait_for(lambda: chart.bar_count > 0)
        await pilot.press("5")
        await wait_for(lambda: chart.timeframe == "4h" and chart.bar_count > 0)
        ts = chart.bars()["ts"].to_numpy()
        assert (ts[1:-1] - ts[:-2] == 4 * 3600 * 10**9).all()
        assert chart.border_title == "BTC/USDT · 4h"


async def test_zoom_pan_and_crosshair(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        chart = app.dashboard.query_one(Chart)
        await wait_for(lambda: chart.bar_count > 0)
        chart.focus()
        await pilot.pause()
        fit = chart.visible_bars
        await pilot.press("minus")
        assert chart.visible_bars == 2 * fit and "×2" in chart.readout()
        await pilot.press("plus", "plus")
        assert chart.visible_bars < fit
        before = chart.visible_bars
        chart.post_message(events.MouseScrollDown(chart, 5, 5, 0, 1, 0, False, False, False))
        await pilot.pause()
        assert chart.visible_bars > before
        chart.post_message(events.MouseScrollUp(chart, 5, 5, 0, -1, 0, False, False, False))
        await pilot.pause()
        assert chart.visible_bars == before
        await pilot.hover(Chart, offset=(3, 4))
        assert chart.cursor == 3
        latest = chart.readout()
        await pilot.press("h")
        assert chart.bars_back == 10 and chart.readout() != latest
        await pilot.press("end")
        assert chart.bars_back == 0
        await pilot.press("left", "left")
        assert chart.cursor is not None
        o = chart.bars()["open"].to_numpy()
        # two bars left of the latest at one bar per column (zoom back to fit first)
        chart.zoom = 0
        chart.cursor = None
        await pilot.press("left", "left")
        assert f"O {o[-3]:,.2f}" in chart.readout()


async def test_ticket_rounds_to_the_lot_checks_risk_and_fills_on_paper(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(lambda: app.oms is not None and "BTC/USDT" in app.marks)
        await pilot.press("b")
        await screen_up(app, OrderTicket)
        ticket = app.screen
        assert isinstance(ticket, OrderTicket)
        assert ticket.query_one("#side", Select).value == Side.BUY
        await pilot.press(*"0.123456")
        await pilot.pause()
        assert "qty 0.123456 → 0.12345" in ticket.rounding_note()
        assert ticket.order is not None and str(ticket.order.qty) == "0.12345"
        assert ticket.verdict == "risk: OK"
        await pilot.press("enter")
        await wait_for(lambda: not isinstance(app.screen, OrderTicket))
        await wait_for(lambda: bool(store.orders.find()) and store.orders.find()[0].status.is_final)
        [order] = store.orders.find()
        assert order.status.value == "FILLED" and str(order.filled_qty) == "0.12345"
        positions = app.dashboard.query_one(PositionsTable)
        await wait_for(lambda: "BTC/USDT" in positions.positions)
        assert str(positions.positions["BTC/USDT"].qty) == "0.12345"
        await wait_for(lambda: positions.get_cell("BTC/USDT", "upnl").plain != "—")


async def test_a_resting_limit_order_is_listed_and_cancelled(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(lambda: app.oms is not None and "ETH/USDT" in app.marks)
        app.dashboard.run_command("buy 0.5 eth limit 1000")
        await screen_up(app, OrderTicket)
        await pilot.press("enter")
        orders = app.dashboard.query_one(OrdersTable)
        await wait_for(lambda: len(orders.orders) == 1)
        [client_id] = orders.orders
        assert store.orders.get(client_id).status.value == "OPEN"  # type: ignore[union-attr]
        app.dashboard.query_one(TabbedContent).active = "tab-orders"
        orders.focus()
        await pilot.press("c")
        await wait_for(lambda: not orders.orders)
        assert store.orders.get(client_id).status.value == "CANCELLED"  # type: ignore[union-attr]


async def test_kill_switch_makes_the_ticket_refuse(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(lambda: app.oms is not None)
        app.dashboard.run_command("kill on")
        await wait_for(lambda: app.oms is not None and app.oms.kill_switch)
        app.dashboard.run_command("buy 1 xau")
        await screen_up(app, OrderTicket)
        ticket = app.screen
        assert isinstance(ticket, OrderTicket)
        await wait_for(lambda: ticket.verdict)
        assert "REJECTED" in ticket.verdict and "kill switch" in ticket.verdict
        assert ticket.query_one("#submit", Button).disabled
        await pilot.press("escape")
        app.dashboard.run_command("kill off")
        await wait_for(lambda: app.oms is not None and not app.oms.kill_switch)


async def test_ticket_refuses_a_limit_without_price_and_cancels_with_escape(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        await screen_up(app, OrderTicket)
        ticket = app.screen
        assert isinstance(ticket, OrderTicket)
        ticket.query_one("#type", Select).value = "limit"
        ticket.query_one("#qty", Input).value = "1"
        await pilot.pause()
        assert ticket.order is None and "needs a price" in ticket.error
        await pilot.press("escape")
        await wait_for(lambda: not isinstance(app.screen, OrderTicket))
        assert "cancelled" in _log_text(app)


async def test_command_bar_charts_and_prefills_the_ticket(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        chart = app.dashboard.query_one(Chart)
        await wait_for(lambda: chart.bar_count > 0)
        await pilot.press("colon", *"chart xau 4h", "enter")
        await wait_for(lambda: chart.symbol == "XAUUSD" and chart.timeframe == "4h")
        assert app.dashboard.query_one(Watchlist).selected_symbol() == "XAUUSD"
        await pilot.press("colon", "d", "enter")
        await pilot.pause()
        assert "unknown command 'd'" in _log_text(app)
        await pilot.press("colon")
        app.dashboard.query_one(CommandBar).open("sell 0.5 eth limit 3300.123 sl 3400 tp 3000")
        await pilot.press("enter")
        await screen_up(app, OrderTicket)
        ticket = app.screen
        assert isinstance(ticket, OrderTicket)
        assert ticket.query_one("#side", Select).value == Side.SELL
        assert ticket.query_one("#type", Select).value == "limit"
        assert ticket.query_one("#qty", Input).value == "0.5"
        assert ticket.query_one("#sl", Input).value == "3400"
        assert "price 3300.123 → 3300.12" in ticket.rounding_note()
        await pilot.press("escape")


async def test_add_and_remove_symbols_are_persisted(store: Store) -> None:
    store.watchlists.set(["BTC/USDT", "EURUSD"])
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        watchlist = app.dashboard.query_one(Watchlist)
        await pilot.press("colon", *"add gbp", "enter")
        await wait_for(lambda: "GBPUSD" in watchlist.symbols and "GBPUSD" in app.symbols)
        assert store.watchlists.get() == ["BTC/USDT", "EURUSD", "GBPUSD"]
        await wait_for(lambda: isinstance(watchlist.get_cell("GBPUSD", "last"), Text)
                       and watchlist.get_cell("GBPUSD", "last").plain != "—")  # fmt: skip
        watchlist.select_symbol("EURUSD")
        watchlist.focus()
        await pilot.press("delete")
        await wait_for(lambda: "EURUSD" not in watchlist.symbols and "EURUSD" not in app.symbols)
        assert store.watchlists.get() == ["BTC/USDT", "GBPUSD"]


async def test_fuzzy_search_goes_to_a_symbol(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        chart = app.dashboard.query_one(Chart)
        await pilot.press("slash")
        await wait_for(lambda: isinstance(app.screen, SymbolSearch))
        await pilot.press(*"jpy", "enter")
        await wait_for(lambda: chart.symbol == "USDJPY" and chart.bar_count > 0)


async def test_watchlist_sorts_flashes_and_draws_sparklines(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(160, 40)) as pilot:
        watchlist = app.dashboard.query_one(Watchlist)
        await wait_for(lambda: len(watchlist.change) == len(watchlist.symbols))
        await wait_for(lambda: bool(watchlist.flashing))
        flashed = next(iter(watchlist.flashing))
        assert watchlist.get_cell(flashed, "last").style in ("flash-up", "flash-down")
        await wait_for(lambda: all(len(h) >= 3 for h in watchlist.history.values()))
        assert len(watchlist.get_cell("BTC/USDT", "spark").plain) >= 3
        app.runtime.stop_feed()  # stop quotes: the changes hold still, flashes must fade
        await wait_for(lambda: all(sub.pending == 0 for sub in app.hub.stats()))
        await pilot.pause()
        watchlist.focus()
        await pilot.press("s")
        assert watchlist.sort_key == "chg" and watchlist.sort_reverse
        changes = [watchlist.change[s] for s in watchlist.order]
        assert changes == sorted(changes, reverse=True)
        await pilot.pause(FLASH_S * 2)
        assert not watchlist.flashing


async def test_help_lists_every_binding_with_its_id(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f1")
        await wait_for(lambda: isinstance(app.screen, HelpScreen))
        ids = {row[3] for row in app.screen.rows}  # type: ignore[attr-defined]
        assert {"dashboard.buy", "chart.zoom_in", "app.quit", "ticket.submit"} <= ids
        await pilot.press("escape")
        await wait_for(lambda: not isinstance(app.screen, HelpScreen))


async def test_cycle_panel_overlays_and_a_scan_come_from_the_engine(store: Store) -> None:
    app = make_app(store)
    engine_at_first_frame: list[bool] = []

    def at_first_frame(message: Message) -> None:
        if isinstance(message, events.Ready):
            engine_at_first_frame.append(app.dashboard.engine_ready)

    async with app.run_test(size=(120, 36), message_hook=at_first_frame):
        dashboard = app.dashboard
        panel = dashboard.query_one(CyclePanel)
        chart = dashboard.query_one(Chart)
        await wait_for(lambda: engine_at_first_frame)
        assert engine_at_first_frame == [False]  # the engine waits for the first frame
        await wait_for(lambda: panel.result is not None)
        result = panel.result
        assert result is not None and result.backend == "statevector"
        assert result.symbol == "BTC/USDT" and result.cycles
        assert abs(sum(result.spectrum) - 1.0) < 1e-9  # folded QPE distribution
        assert f"dominant {result.cycles[0].period_bars:.1f} bars" in panel.summary()
        await wait_for(lambda: bool(chart.overlays) and bool(chart.turns))
        assert {o.name for o in chart.overlays} == {"ema20", "bb_upper", "bb_lower"}
        assert len(chart.overlays[0].values) == chart.bar_count
        dashboard.run_command("scan btc eth")
        feed = dashboard.query_one(SignalsFeed)
        # the runtime scans the stored history and stores what it finds, then the feed shows it
        symbols = {"BTC/USDT", "ETH/USDT"}
        await wait_for(lambda: {s.symbol for s in store.signals.recent()} >= symbols)
        await wait_for(lambda: feed.count >= 2)
        assert watchlist_signal(dashboard.query_one(Watchlist), "ETH/USDT") != "—"


def watchlist_signal(watchlist: Watchlist, symbol: str) -> str:
    return watchlist.get_cell(symbol, "signal").plain


async def test_a_binding_can_be_remapped_by_its_id(store: Store) -> None:
    data = Settings.load(environ={}).as_dict()
    data["keymap"] = {"dashboard.buy": "x"}
    feed = DemoFeed(tick_interval_s=0.2, history_bars=600, clock=frozen_clock)
    app = QwsApp(feed, store, Settings(data), clock=frozen_clock, show_clock=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("b")
        await pilot.pause()
        assert not isinstance(app.screen, OrderTicket)
        await pilot.press("x")
        await screen_up(app, OrderTicket)


async def test_the_command_palette_runs_typed_commands(store: Store) -> None:
    from textual.command import CommandPalette

    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        chart = app.dashboard.query_one(Chart)
        await pilot.press("ctrl+p")
        await wait_for(lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"chart sol 1h")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(lambda: chart.symbol == "SOL/USDT" and chart.timeframe == "1h")


M = TypeVar("M", bound=Message)


def _posted(seen: list[Message], kind: type[M]) -> list[M]:
    """The messages of ``kind`` seen (a screen's intent is seen twice: on it, then its app)."""
    return [m for m in seen if isinstance(m, kind)]


async def test_pressing_b_posts_the_ticket_intent_and_the_app_opens_the_ticket(
    store: Store,
) -> None:
    app = make_app(store)
    seen: list[Message] = []
    async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
        await pilot.press("b")
        await screen_up(app, OrderTicket)
        [request, *_] = _posted(seen, TicketRequested)
        assert request.draft.symbol == "BTC/USDT" and request.draft.side is Side.BUY
        assert isinstance(app.screen, OrderTicket) and app.screen.draft == request.draft


async def test_watch_unwatch_help_and_desk_commands_go_up_as_intents(store: Store) -> None:
    store.watchlists.set(["BTC/USDT", "EURUSD"])
    app = make_app(store)
    seen: list[Message] = []
    async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
        dashboard = app.dashboard
        dashboard.run_command("add gbp")
        await wait_for(lambda: "GBPUSD" in app.symbols)
        assert {m.symbol for m in _posted(seen, WatchRequested)} == {"GBPUSD"}
        dashboard.run_command("unwatch gbp")
        await wait_for(lambda: "GBPUSD" not in app.symbols)
        assert {m.symbol for m in _posted(seen, UnwatchRequested)} == {"GBPUSD"}
        assert store.watchlists.get() == ["BTC/USDT", "EURUSD"]
        dashboard.run_command("close btc")
        await wait_for(lambda: bool(_posted(seen, TradeRequested)))
        [trade, *_] = _posted(seen, TradeRequested)
        assert trade.command.intent == "close"
        dashboard.run_command("help")
        await wait_for(lambda: isinstance(app.screen, HelpScreen))
        assert _posted(seen, HelpRequested)
        await pilot.press("escape")


class HeldHistory(DemoFeed):
    """The demo feed, whose 5m history waits until the test lets it answer."""

    def __init__(self) -> None:
        super().__init__(tick_interval_s=0.2, history_bars=600, clock=frozen_clock)
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()

    async def history(
        self, symbol: str, timeframe: str, start: int | None = None, limit: int | None = None
    ) -> pl.DataFrame:
        if timeframe == "5m":
            self.asked.set()
            await self.answer.wait()
        return await super().history(symbol, timeframe, start, limit)


class KeepsTheScreenClosing(Widget):
    """Its unmount waits for the test: the dashboard's other widgets are gone by then, the
    screen itself is not (Textual unmounts a screen after all its children)."""

    def __init__(self) -> None:
        super().__init__()
        self.closing = asyncio.Event()
        self.let_go = asyncio.Event()

    async def on_unmount(self) -> None:
        self.closing.set()
        await self.let_go.wait()


async def test_work_in_flight_when_the_dashboard_closes_touches_none_of_its_widgets(
    store: Store,
) -> None:
    """The app quits while a history load, a QPE run and an overlay run are under way and the
    status line's timer ticks: what ends after the dashboard's widgets are gone is dropped,
    nothing is rerun, and no timer or worker fails (they belong to the screen)."""
    feed = HeldHistory()
    app = QwsApp(feed, store, Settings.load(environ={}), clock=frozen_clock, show_clock=False)
    engine_free = threading.Event()
    holder = KeepsTheScreenClosing()
    applied: list[tuple[int, int, int]] = []

    async def once_its_widgets_are_gone() -> None:
        dashboard = app.dashboard
        await wait_for(lambda: holder.closing.is_set() and list(dashboard.children) == [holder])
        before = (dashboard.history_loads, dashboard.cycle_runs, dashboard.overlay_runs)
        engine_free.set()
        feed.answer.set()
        await wait_for(lambda: not [w for w in app.workers if w.node is dashboard and w.is_running])
        await asyncio.sleep(2.5)  # the status line's 1 s timer would tick here, twice
        applied.append(before)
        applied.append((dashboard.history_loads, dashboard.cycle_runs, dashboard.overlay_runs))
        holder.let_go.set()

    try:
        async with app.run_test(size=(100, 30)) as pilot:
            dashboard = app.dashboard
            await wait_for(lambda: dashboard.cycle_runs > 0 and dashboard.overlay_runs > 0)
            await dashboard.mount(holder)
            blocker = asyncio.ensure_future(run_engine(engine_free.wait))  # the engine is busy
            for _ in range(2):  # one run of each waits for the engine, a rerun is asked for
                dashboard.compute_overlays()
                dashboard.detect_cycles()
            await pilot.press("2")  # 5m: its history is held
            await wait_for(feed.asked.is_set)
            window = asyncio.ensure_future(once_its_widgets_are_gone())
    finally:
        engine_free.set()
        feed.answer.set()
        holder.let_go.set()
    await blocker
    await window
    before, after = applied
    assert after == before  # nothing applied to a dashboard that was gone
