"""The trading desk of the app: the configured broker and the order manager around it.

The app feeds it market data (the paper broker fills against the live quotes and books) and
user intents from the ticket and the command bar; it answers with the orders and positions
the screen shows. Built lazily in a worker, so the first frame never waits for it.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from engine.model import Order, OrderBook, OrderType, Position, Tick
from engine.protocols import Broker
from engine.trading.risk import RiskContext, check_order
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.trading.broker_factory import open_broker, open_oms, risk_limits
from workstation.trading.killswitch import KillSwitch
from workstation.trading.oms import OrderManager


@dataclass(slots=True)
class DeskView:
    """What the screen shows after an update."""

    open_orders: list[Order]
    positions: list[Position]


class Desk:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        marks: dict[str, float],
        kill_switch: KillSwitch | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.marks = marks
        db_path = store.path
        if str(db_path) == ":memory:":
            db_path = Path(tempfile.mkdtemp(prefix="qws-paper-")) / "memory.db"
        self.broker: Broker = open_broker(settings, store, db_path)
        self.confirmed: set[str] = set()  # client ids the user confirmed on the ticket
        self.oms: OrderManager = open_oms(
            settings,
            store,
            self.broker,
            self.mark,
            confirm=self._confirmed_on_ticket,
            kill_switch=kill_switch,
        )
        self.limits = risk_limits(settings)
        self.live = bool(getattr(self.broker, "live", True))

    @property
    def venue(self) -> str:
        return self.oms.venue

    def mark(self, symbol: str) -> float | None:
        value = self.marks.get(symbol)
        return value if value is not None and math.isfinite(value) else None

    def _confirmed_on_ticket(self, order: Order) -> bool:
        """The order manager's live-order confirmation: only what the ticket's second,
        explicit confirmation let through (the command bar never sends)."""
        return order.client_id in self.confirmed

    def on_market(self, event: Tick | OrderBook) -> None:
        """Market data for a simulated broker (a real venue fills on its own)."""
        handler = getattr(self.broker, "on_tick" if isinstance(event, Tick) else "on_book", None)
        if handler is not None:
            handler(event)

    def risk_verdict(self, order: Order) -> tuple[bool, str]:
        """The pre-trade check the order manager will run, for the ticket to show first."""
        if self.oms.kill_switch:
            return False, "kill switch is on: new orders are blocked (`kill off` releases it)"
        try:
            instrument = self.oms.instruments(order.symbol)
        except (KeyError, LookupError, ValueError) as exc:
            return False, f"unknown instrument {order.symbol}: {exc}"
        price = order.price if order.type is OrderType.LIMIT else order.stop
        mark = self.mark(order.symbol)
        ref = float(price) if price is not None else (mark if mark is not None else math.nan)
        positions = {p.symbol: float(p.qty) for p in self.store.positions.find(self.venue) if p.qty}
        marks = {s: m for s in positions if (m := self.mark(s)) is not None}
        ctx = RiskContext(positions, marks, (), self.oms.daily_pnl(), self.oms.clock())
        decision = check_order(order, instrument, ref, self.limits, ctx)
        return decision.ok, decision.reason

    def view(self) -> DeskView:
        return DeskView(
            self.store.orders.find(open_only=True, venue=self.venue),
            [p for p in self.store.positions.find(self.venue) if p.qty],
        )

    def has_working_orders(self) -> bool:
        return bool(self.store.orders.find(open_only=True, venue=self.venue))

    def close(self) -> None:
        closer = getattr(self.broker, "close", None)
        if closer is not None:
            closer()
