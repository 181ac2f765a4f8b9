"""The command language under the screen: an order said as a notional opens the ticket with
the quantity the runtime worked out, a question is answered in the log, moving a stop asks
first and is then done by the runtime (the new leg placed before the old one goes)."""

from __future__ import annotations

from decimal import Decimal

from textual.pilot import Pilot
from textual.widgets import Input

from engine.commands import Command
from engine.model import OrderStatus, Side
from tests.workstation.ui.ui_helpers import make_app, screen_up, wait_for
from widgets.log_pane import LogPane
from workstation.store import Store
from workstation.ui.app import QwsApp
from workstation.ui.screens.confirm_action import ConfirmAction
from workstation.ui.screens.dashboard import understood_line
from workstation.ui.screens.messages import TradeRequested

SYMBOL = "BTC/USDT"


def ask(app: QwsApp, command: Command) -> None:
    """What the dashboard posts for a parsed command the runtime carries out."""
    app.dashboard.post_message(TradeRequested(command))


def logged(app: QwsApp) -> list[str]:
    return [text for _, text in app.dashboard.query_one(LogPane).entries]


def test_the_echo_names_what_was_understood_and_the_typos_corrected() -> None:
    typed = Command(
        "order",
        {"side": "buy", "symbol": SYMBOL, "qty": Decimal("0.1"), "type": "market",
         "understood": "buy 0.1 BTC/USDT market", "corrections": ["by -> buy"]},
    )  # fmt: skip
    assert understood_line(typed) == "understood: buy 0.1 BTC/USDT market (by -> buy)"
    plain = Command("order", {"understood": "sell 1 ETH/USDT market", "corrections": []})
    assert understood_line(plain) == "understood: sell 1 ETH/USDT market"
    assert understood_line(Command("help", {})) == ""


async def test_a_notional_order_opens_the_ticket_with_the_sized_quantity(store: Store) -> None:
    from workstation.ui.screens.order_ticket import OrderTicket

    app = make_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: app.oms is not None and app.runtime.mark(SYMBOL) is not None)
        command = Command(
            "order",
            {"side": "buy", "symbol": SYMBOL, "type": "limit", "price": Decimal("50000"),
             "notional": Decimal("500"), "notional_ccy": "USDT"},
        )  # fmt: skip
        expected = app.runtime.size_order(command)
        ask(app, command)
        ticket = await screen_up(app, OrderTicket)
        assert ticket.query_one("#qty", Input).value == f"{expected.qty:f}"
        assert ticket.query_one("#price", Input).value == "50000"
        assert expected.qty == Decimal("0.01")  # 500 USDT at 50,000 on a lot of 0.00001
        assert f"size: {expected.text}" in logged(app)
        assert expected.text == "500 USDT at 50,000.00 = 0.01 BTC (lot 0.00001)"
        assert store.orders.find(limit=5) == []  # the ticket is still the confirm step
        await _close_ticket(pilot, app)


async def test_a_question_is_answered_in_the_log(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 36)):
        await wait_for(lambda: app.oms is not None and app.runtime.mark(SYMBOL) is not None)
        ask(app, Command("query", {"what": "positions"}))
        await wait_for(lambda: "No open positions." in logged(app))
        ask(app, Command("query", {"what": "price"}))
        await wait_for(lambda: "the price of what? name a symbol" in logged(app))


async def test_moving_a_stop_asks_first_then_moves_it(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: app.oms is not None and app.runtime.mark(SYMBOL) is not None)
        mark = Decimal(str(app.runtime.mark(SYMBOL)))
        low = (mark * Decimal("0.5")).quantize(Decimal(1))
        parent = await app.runtime.submit(
            app.runtime.build(SYMBOL, Side.BUY, "0.01", sl=low), confirmed=True
        )
        assert parent.status is OrderStatus.FILLED, parent.reason
        new = (mark * Decimal("0.6")).quantize(Decimal(1))
        amend = Command("amend", {"symbol": SYMBOL, "sl": new})

        ask(app, amend)  # refused at the dialog: nothing moves
        await wait_for(lambda: isinstance(app.screen, ConfirmAction))
        dialog = app.screen
        assert isinstance(dialog, ConfirmAction)
        assert f"move the stop-loss to {new:f}" in dialog.detail
        await pilot.press("escape")
        await wait_for(lambda: f"{SYMBOL}: protection kept as it was" in logged(app))
        assert store.orders.get(f"{parent.client_id}-sl.2") is None

        ask(app, amend)
        await wait_for(lambda: isinstance(app.screen, ConfirmAction))
        dialog = app.screen
        await wait_for(lambda: all(w.is_mounted for w in dialog.query("*")))
        await pilot.pause()  # laid out: the click lands on the button
        await pilot.click("#confirm-do")
        await wait_for(
            lambda: any(t.startswith(f"{SYMBOL}: stop-loss {new:f}") for t in logged(app))
        )
        moved = store.orders.get(f"{parent.client_id}-sl.2")
        old = store.orders.get(f"{parent.client_id}-sl")
        assert moved is not None and moved.status is OrderStatus.OPEN and moved.stop == new
        assert old is not None and old.status is OrderStatus.CANCELLED
        assert not isinstance(app.screen, ConfirmAction)


async def test_typed_phrases_reach_the_runtime_with_the_echo(store: Store) -> None:
    from workstation.ui.screens.order_ticket import OrderTicket

    store.settings.set("commands.aliases", {"satoshi": "BTC"})  # the user's own name
    app = make_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: app.oms is not None and app.runtime.mark(SYMBOL) is not None)
        app.dashboard.run_command("show positions")
        await wait_for(lambda: "No open positions." in logged(app))
        app.dashboard.run_command("by 0.01 satoshi")
        assert "understood: buy 0.01 BTC/USDT market (by -> buy)" in logged(app)
        ticket = await screen_up(app, OrderTicket)
        assert ticket.query_one("#qty", Input).value == "0.01"
        await pilot.press("escape")
        await wait_for(lambda: not isinstance(app.screen, OrderTicket))
        app.dashboard.run_command("buy 500 usdt of btc")
        await screen_up(app, OrderTicket)
        assert any(t.startswith("size: 500 USDT at ") for t in logged(app))
        assert store.orders.find(limit=5) == []
        await _close_ticket(pilot, app)


async def _close_ticket(pilot: Pilot[None], app: QwsApp) -> None:
    """Cancel the open ticket as a user would, once all of it is mounted (leaving the app
    while its selects still mount would fail the app on the way out, not the test's point)."""
    from workstation.ui.screens.order_ticket import OrderTicket

    ticket = app.screen
    assert isinstance(ticket, OrderTicket)
    await wait_for(lambda: all(w.is_mounted for w in ticket.query("*")))
    await pilot.press("escape")
    await wait_for(lambda: not isinstance(app.screen, OrderTicket))


async def test_a_twap_typed_in_the_bar_is_worked_by_the_runtime_from_the_ticket(
    store: Store,
) -> None:
    from engine.trading.schedule import Algo, AlgoStatus
    from workstation.ui.screens.order_ticket import OrderTicket

    app = make_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.oms is not None and app.runtime.mark(SYMBOL) is not None)
        app.dashboard.run_command("buy 0.02 btc twap over 10m max 50%")
        assert "understood: buy 0.02 BTC/USDT market twap over 10m max 50%" in logged(app)
        ticket = await screen_up(app, OrderTicket)
        assert ticket.query_one("#over", Input).value == "10m"
        assert ticket.query_one("#cap", Input).value == "50"
        await wait_for(lambda: all(w.is_mounted for w in ticket.query("*")))
        ticket.review()
        assert ticket.choice is not None and ticket.choice.max_participation == Decimal("0.5")
        assert "TWAP over 10m, max 50% of volume" in str(ticket.query_one("#verdict").render())
        await pilot.press("ctrl+s")
        await wait_for(lambda: bool(store.algos.find()))
        [parent] = store.algos.find()
        assert parent.params.algo is Algo.TWAP and parent.params.slices == 10
        assert parent.qty == Decimal("0.02") and parent.side is Side.BUY
        assert parent.params.max_participation == Decimal("0.5")
        await wait_for(lambda: store.algos.get(parent.id).started)  # type: ignore[union-attr]
        assert store.orders.find(limit=5) == []  # the first child waits for its slice's end
        app.dashboard.run_command(f"cancel {parent.id}")
        await wait_for(lambda: store.algos.get(parent.id).status is AlgoStatus.CANCELLED)  # type: ignore[union-attr]
        await wait_for(lambda: any(f"{parent.id} TWAP buy BTC/USDT: cancelled" in t
                                   for t in logged(app)))  # fmt: skip
