"""The order ticket on its own: a live order needs a second, explicit confirmation."""

from __future__ import annotations

from decimal import Decimal

from textual.widgets import Button

from engine.model import Order, OrderType, Side
from feeds.demo import DEMO_INSTRUMENTS
from tests.workstation.ui.ui_helpers import make_app, wait_for
from workstation.store import Store
from workstation.ui.screens.order_ticket import OrderTicket, TicketDraft


async def test_a_live_order_is_returned_only_after_the_second_press(store: Store) -> None:
    app = make_app(store)
    results: list[Order | None] = []
    async with app.run_test(size=(100, 30)) as pilot:
        ticket = OrderTicket(
            DEMO_INSTRUMENTS["EURUSD"].instrument,
            TicketDraft("EURUSD", Side.SELL, OrderType.LIMIT, Decimal("2500"), Decimal("1.1")),
            mark=1.085,
            risk_check=lambda order: (True, ""),
            live=True,
            venue="ccxt",
        )
        app.push_screen(ticket, results.append)
        await wait_for(lambda: ticket.order is not None)
        assert "qty 2500 → 2000" in ticket.rounding_note()  # lot 1000, never rounded up
        await pilot.press("ctrl+s")
        assert app.screen is ticket and not results
        assert str(ticket.query_one("#submit", Button).label) == "Confirm LIVE order"
        await pilot.press("ctrl+s")
        await wait_for(lambda: bool(results))
        [order] = results
        assert order is not None and order.qty == Decimal("2000")
        assert order.price == Decimal("1.10000") and order.side is Side.SELL


async def test_a_rejecting_risk_check_disables_submit(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        ticket = OrderTicket(
            DEMO_INSTRUMENTS["XAUUSD"].instrument,
            TicketDraft("XAUUSD", qty=Decimal("3")),
            mark=2350.0,
            risk_check=lambda order: (False, "order notional exceeds the limit"),
        )
        app.push_screen(ticket)
        await wait_for(lambda: ticket.order is not None)
        assert ticket.query_one("#submit", Button).disabled
        assert "REJECTED — order notional exceeds the limit" in ticket.verdict
        await pilot.press("ctrl+s")
        assert app.screen is ticket
