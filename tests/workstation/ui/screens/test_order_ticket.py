"""The order ticket on its own: a live order needs a second, explicit confirmation; a risk %
and a stop loss size the quantity, rounded down to the lot, or say why they cannot."""

from __future__ import annotations

from decimal import Decimal

from textual.pilot import Pilot
from textual.widgets import Button, Input, Select, Static

from engine.model import Instrument, Order, OrderType, Side
from feeds.demo import DEMO_INSTRUMENTS
from tests.workstation.ui.ui_helpers import make_app, screen_up, wait_for
from workstation.store import Store
from workstation.ui.screens.messages import TicketDraft
from workstation.ui.screens.order_ticket import OrderTicket


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


# -- sizing from risk: equity 10,000, mark 100.00, lot 0.01 ---------------------------------------
SIZED = Instrument("TEST", "paper", Decimal("0.01"), Decimal("0.01"), "USD", "TST")


async def _open(pilot: Pilot, ticket: OrderTicket) -> None:
    pilot.app.push_screen(ticket)
    await wait_for(lambda: ticket.is_mounted and ticket.query_one("#verdict", Static).visual)
    await pilot.pause()


async def _type(pilot: Pilot, ticket: OrderTicket, field: str, text: str) -> None:
    box = ticket.query_one(f"#{field}", Input)
    box.focus()
    box.value = ""
    await pilot.press(*text)
    await pilot.pause()


def _qty(ticket: OrderTicket) -> str:
    return ticket.query_one("#qty", Input).value


async def test_risk_sizing_fills_the_quantity_rounded_down_to_the_lot(store: Store) -> None:
    app = make_app(store)
    results: list[Order | None] = []
    async with app.run_test(size=(100, 30)) as pilot:
        ticket = OrderTicket(SIZED, TicketDraft("TEST"), mark=100.0, equity=10_000.0)
        app.push_screen(ticket, results.append)
        await wait_for(lambda: ticket.is_mounted)
        await pilot.pause()
        assert not ticket.query_one("#sizing", Static).display  # no risk %: no sizing line
        await _type(pilot, ticket, "sl", "91")
        await _type(pilot, ticket, "risk", "1")
        # 1 % of 10,000 = 100 over a 9.00 stop: 11.111... units, down to the lot: 11.11
        await wait_for(lambda: _qty(ticket) == "11.11")
        assert ticket.sizing == (
            "risk 1.00% of 10,000.00 = 100.00 at SL → qty 11.11 (rounded down to lot 0.01)"
        )
        sizing = ticket.query_one("#sizing", Static)
        assert sizing.display and not sizing.has_class("-refused")
        assert ticket.order is not None and ticket.order.qty == Decimal("11.11")
        assert float(ticket.order.qty) * 9.0 <= 100.0  # never rounded up past the risk
        # a wider stop re-sizes the quantity the sizing filled in
        await _type(pilot, ticket, "sl", "70")
        await wait_for(lambda: _qty(ticket) == "3.33")  # 100 / 30 = 3.333...
        # a limit order is sized from its limit price, not the mark
        ticket.query_one("#type", Select).value = OrderType.LIMIT
        await _type(pilot, ticket, "price", "80")
        await wait_for(lambda: _qty(ticket) == "10.00")  # 100 / (80 - 70)
        assert ticket.order is not None and ticket.order.price == Decimal("80.00")
        await pilot.press("ctrl+s")
        await wait_for(lambda: bool(results))
        [order] = results
        assert order is not None and order.qty == Decimal("10") and order.sl == Decimal("70.00")


async def test_a_typed_quantity_is_only_replaced_by_the_size_key_or_button(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        ticket = OrderTicket(SIZED, TicketDraft("TEST", qty=Decimal("5")), mark=100.0, equity=5e3)
        await _open(pilot, ticket)
        await _type(pilot, ticket, "sl", "95")
        await _type(pilot, ticket, "risk", "0.5")
        # 0.5 % of 5,000 = 25 over 5.00: 5 units, proposed but the typed 5 stays as typed
        await wait_for(lambda: ticket.sized_qty == Decimal("5.00"))
        await _type(pilot, ticket, "qty", "7")
        await wait_for(lambda: "Size (ctrl+r) to use it" in ticket.sizing)
        assert _qty(ticket) == "7"
        await pilot.press("ctrl+r")
        await wait_for(lambda: _qty(ticket) == "5.00")
        await _type(pilot, ticket, "qty", "7")
        await pilot.click("#size")
        await wait_for(lambda: _qty(ticket) == "5.00")


async def test_risk_sizing_without_a_stop_loss_says_so(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        ticket = OrderTicket(SIZED, TicketDraft("TEST"), mark=100.0, equity=10_000.0)
        await _open(pilot, ticket)
        await _type(pilot, ticket, "risk", "1")
        await wait_for(lambda: "stop loss" in ticket.sizing)
        assert ticket.sizing == "cannot size from risk without a stop loss (SL) price"
        assert ticket.query_one("#sizing", Static).has_class("-refused")
        assert _qty(ticket) == "" and ticket.order is None
        assert ticket.query_one("#submit", Button).disabled
        # a stop on the wrong side of the entry is refused too, nothing filled in
        await _type(pilot, ticket, "sl", "105")
        await wait_for(lambda: "must be below the entry 100.00" in ticket.sizing)
        assert _qty(ticket) == ""


async def test_risk_sizing_without_the_equity_is_refused(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        ticket = OrderTicket(SIZED, TicketDraft("TEST", sl=Decimal("91")), mark=100.0)
        await _open(pilot, ticket)
        assert ticket.query_one("#risk", Input).placeholder == "equity unknown"
        await _type(pilot, ticket, "risk", "1")
        await wait_for(lambda: "equity unknown" in ticket.sizing)
        assert ticket.sizing == "cannot size from risk: equity unknown (enter the quantity)"
        assert _qty(ticket) == "" and ticket.order is None
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert _qty(ticket) == "" and "equity unknown" in ticket.sizing


async def test_a_risk_size_below_one_lot_is_refused(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        # 0.01 % of 100 = 0.01 over a 9.00 stop: 0.0011 units, below the lot of 0.01
        ticket = OrderTicket(SIZED, TicketDraft("TEST", sl=Decimal("91")), mark=100.0, equity=100.0)
        await _open(pilot, ticket)
        await _type(pilot, ticket, "risk", "0.01")
        await wait_for(lambda: "below one lot" in ticket.sizing)
        assert ticket.sizing == (
            "risk 0.01% of 100.00 = 0.01 at SL → 0.00111111: below one lot (0.01), not sized"
        )
        assert _qty(ticket) == "" and ticket.order is None
        assert ticket.query_one("#submit", Button).disabled
        # a size that was filled in and no longer holds is taken back, not left behind
        await _type(pilot, ticket, "risk", "100")
        await wait_for(lambda: _qty(ticket) == "11.11")
        await _type(pilot, ticket, "risk", "0.01")
        await wait_for(lambda: _qty(ticket) == "")
        assert ticket.order is None


# -- the order manager's refusal of a protective level on the wrong side --------------------------
async def test_the_ticket_shows_the_refusal_of_a_stop_loss_above_a_buy(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(lambda: app.oms is not None and "EURUSD" in app.marks)
        app.dashboard.run_command("buy 1000 eurusd")
        await screen_up(app, OrderTicket)
        ticket = app.screen
        assert isinstance(ticket, OrderTicket)
        await wait_for(lambda: ticket.verdict.startswith("risk: OK"))
        await _type(pilot, ticket, "sl", "1.2")
        await wait_for(lambda: "REJECTED" in ticket.verdict)
        assert "stop-loss 1.2 is above the entry 1.0" in ticket.verdict
        assert ticket.verdict.endswith("of a buy: it would fire at once")
        assert ticket.query_one("#submit", Button).disabled
        await _type(pilot, ticket, "sl", "1.05")
        await wait_for(lambda: ticket.verdict.startswith("risk: OK"))
        await pilot.press("escape")
    assert store.orders.find() == []


async def test_the_command_bar_order_with_a_wrong_side_level_opens_a_refusing_ticket(
    store: Store,
) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(lambda: app.oms is not None and "EURUSD" in app.marks)
        await pilot.press("colon", *"sell 1000 eurusd tp=1.2", "enter")
        await screen_up(app, OrderTicket)
        ticket = app.screen
        assert isinstance(ticket, OrderTicket)
        await wait_for(lambda: "REJECTED" in ticket.verdict)
        assert "take-profit 1.2 is above the entry 1.0" in ticket.verdict
        assert ticket.verdict.endswith("of a sell: it would fill at once")
        assert ticket.query_one("#submit", Button).disabled
        await pilot.press("ctrl+s")
        assert app.screen is ticket
        await pilot.press("escape")
    assert store.orders.find() == []
