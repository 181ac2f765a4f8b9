"""A bracketed buy through the app, as a user places it: the log's fill line shows the fee as
money, the Orders tab tells the stop-loss leg (its stop price, its id's suffix) from the
take-profit, and the Positions tab shows both levels."""

from __future__ import annotations

import re
from decimal import Decimal

from rich.text import Text

from tests.workstation.ui.ui_helpers import make_app, screen_up, wait_for
from widgets.log_pane import LogPane
from widgets.orders_table import OrdersTable
from widgets.positions_table import PositionsTable
from workstation.store import Store
from workstation.ui.screens.order_ticket import OrderTicket

SYMBOL = "BTC/USDT"


def _plain(value: Text | str) -> str:
    return value.plain if isinstance(value, Text) else value


async def test_a_bracketed_fill_shows_its_fee_legs_and_levels(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_for(lambda: app.oms is not None and SYMBOL in app.marks)
        mark = Decimal(round(app.marks[SYMBOL]))
        sl, tp = mark - 2000, mark + 2000
        app.dashboard.run_command(f"buy 0.01 btc sl {sl} tp {tp}")
        await screen_up(app, OrderTicket)
        await pilot.press("enter")
        await wait_for(lambda: not isinstance(app.screen, OrderTicket))

        orders = app.dashboard.query_one(OrdersTable)
        await wait_for(lambda: len(orders.orders) == 2)
        legs = {cid.rpartition("-")[2]: cid for cid in orders.orders}
        assert set(legs) == {"sl", "tp"}
        assert _plain(orders.get_cell(legs["sl"], "price")) == f"stop {sl:,}"
        assert _plain(orders.get_cell(legs["tp"], "price")) == f"{tp:,}"
        assert _plain(orders.get_cell(legs["sl"], "id")).endswith("-sl")
        assert _plain(orders.get_cell(legs["tp"], "id")).endswith("-tp")

        positions = app.dashboard.query_one(PositionsTable)
        await wait_for(lambda: _plain(positions.get_cell(SYMBOL, "sl")) != "—")
        assert _plain(positions.get_cell(SYMBOL, "sl")) == f"{sl:,}"
        assert _plain(positions.get_cell(SYMBOL, "tp")) == f"{tp:,}"

        log = app.dashboard.query_one(LogPane)
        await wait_for(lambda: any(text.startswith("fill ") for _, text in log.entries))
        [fill_line] = [text for _, text in log.entries if text.startswith("fill ")]
        [fill] = store.fills.find()
        fee = re.fullmatch(r"fill buy 0\.01 BTC/USDT @ \S+ \(fee (\S+) USDT\)", fill_line)
        assert fee is not None, fill_line
        assert Decimal(fee[1]) == fill.fee > 0  # exact: nothing rounded away
        assert fee[1] == f"{fill.fee.normalize():f}"  # no trailing zeros
