"""The order ticket: a modal that proposes an order and returns it, never sends it itself.

Quantity and prices are shown as they will be sent: rounded to the instrument's lot and tick
grid, with the rounding spelled out. The risk verdict (from the callable the app passes) is
shown before the Submit button is enabled; a live order needs a second, explicit confirmation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from engine.model import Instrument, ModelError, Order, OrderType, Side, to_decimal
from workstation.trading.oms import new_client_id

RiskCheck = Callable[[Order], tuple[bool, str]]


@dataclass(frozen=True, slots=True)
class TicketDraft:
    """What the ticket opens with (from a key press or a parsed command)."""

    symbol: str
    side: Side = Side.BUY
    type: OrderType = OrderType.MARKET
    qty: Decimal | None = None
    price: Decimal | None = None
    sl: Decimal | None = None
    tp: Decimal | None = None


def _optional(text: str, what: str) -> Decimal | None:
    text = text.strip().replace(",", "")
    if not text:
        return None
    try:
        value = to_decimal(text)
    except ModelError:
        raise ModelError(f"{what}: not a number ({text!r})") from None
    if value <= 0:
        raise ModelError(f"{what} must be positive")
    return value


class OrderTicket(ModalScreen[Order | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="ticket.cancel"),
        Binding("ctrl+s", "submit", "Submit", id="ticket.submit"),
    ]

    def __init__(
        self,
        instrument: Instrument,
        draft: TicketDraft,
        mark: float | None = None,
        risk_check: RiskCheck | None = None,
        live: bool = False,
        venue: str = "paper",
    ) -> None:
        super().__init__(id="order-ticket")
        self.instrument = instrument
        self.draft = draft
        self.mark = mark
        self.risk_check = risk_check
        self.live = live
        self.venue = venue
        self.order: Order | None = None
        self.error = ""
        self.verdict = ""
        self._confirming = False

    def compose(self) -> ComposeResult:
        d, inst = self.draft, self.instrument
        mark = "—" if self.mark is None else inst.format_price(self.mark)
        with Vertical(id="ticket"):
            yield Static(
                f"[b]{inst.symbol}[/b] on {self.venue}{' [red b]LIVE[/]' if self.live else ''}"
                f" · mark {mark} · tick {inst.tick_size} · lot {inst.lot_size}",
                id="ticket-title",
            )
            with Grid(id="ticket-grid"):
                yield Label("Side")
                yield Select(
                    [("Buy", Side.BUY), ("Sell", Side.SELL)],
                    value=d.side, allow_blank=False, compact=True, id="side",
                )  # fmt: skip
                yield Label("Type")
                yield Select(
                    [("Market", OrderType.MARKET), ("Limit", OrderType.LIMIT),
                     ("Stop", OrderType.STOP)],
                    value=d.type, allow_blank=False, compact=True, id="type",
                )  # fmt: skip
                yield Label("Quantity")
                yield Input(
                    _s(d.qty), placeholder=f"in {inst.base_ccy or 'units'}", compact=True, id="qty"
                )
                yield Label("Price")
                yield Input(_s(d.price), placeholder="limit/stop price", compact=True, id="price")
                yield Label("Stop loss")
                yield Input(_s(d.sl), placeholder="optional", compact=True, id="sl")
                yield Label("Take profit")
                yield Input(_s(d.tp), placeholder="optional", compact=True, id="tp")
            yield Static("", id="rounding")
            yield Static("", id="verdict")
            with Horizontal(id="ticket-buttons"):
                yield Button("Submit", variant="primary", compact=True, id="submit")
                yield Button("Cancel", compact=True, id="cancel")

    def on_mount(self) -> None:
        self.query_one("#qty", Input).focus()
        self.review()

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self) -> None:
        self._confirming = False
        self.review()

    def build(self) -> Order:
        """The order as it would be sent (rounded to the grid), or a ModelError saying why not."""
        inst = self.instrument
        side_value = self.query_one("#side", Select).value
        kind_value = self.query_one("#type", Select).value
        if not isinstance(side_value, str) or not isinstance(kind_value, str):  # Select.NULL
            raise ModelError("choose a side and an order type")
        side, kind = Side(side_value), OrderType(kind_value)
        raw_qty = _optional(self.query_one("#qty", Input).value, "quantity")
        if raw_qty is None:
            raise ModelError("enter a quantity")
        qty = inst.round_qty(raw_qty)
        if qty <= 0 or qty < inst.min_qty:
            raise ModelError(f"quantity {raw_qty} is below one lot ({inst.lot_size})")
        price = _optional(self.query_one("#price", Input).value, "price")
        if kind is not OrderType.MARKET and price is None:
            raise ModelError(f"a {kind} order needs a price")
        price = None if price is None or kind is OrderType.MARKET else inst.round_price(price)
        sl = _optional(self.query_one("#sl", Input).value, "stop loss")
        tp = _optional(self.query_one("#tp", Input).value, "take profit")
        return Order(
            client_id=new_client_id(),
            symbol=inst.symbol,
            side=side,
            type=kind,
            qty=qty,
            price=price if kind is OrderType.LIMIT else None,
            stop=price if kind is OrderType.STOP else None,
            venue=self.venue,
            sl=None if sl is None else inst.round_price(sl),
            tp=None if tp is None else inst.round_price(tp),
        )

    def rounding_note(self) -> str:
        inst = self.instrument
        notes = []
        for field, rounder, grid in (("qty", inst.round_qty, inst.lot_size),
                                     ("price", inst.round_price, inst.tick_size),
                                     ("sl", inst.round_price, inst.tick_size),
                                     ("tp", inst.round_price, inst.tick_size)):  # fmt: skip
            try:
                raw = _optional(self.query_one(f"#{field}", Input).value, field)
            except ModelError:
                continue
            if raw is not None and rounder(raw) != raw:
                notes.append(f"{field} {raw} → {rounder(raw)} (grid {grid})")
        return "rounded: " + "; ".join(notes) if notes else "on the tick/lot grid"

    def review(self) -> None:
        submit = self.query_one("#submit", Button)
        self.query_one("#rounding", Static).update(self.rounding_note())
        try:
            self.order = self.build()
        except ModelError as exc:
            self.order, self.error = None, str(exc)
            self.query_one("#verdict", Static).update(f"[yellow]{self.error}[/]")
            submit.disabled = True
            return
        self.error = ""
        if self.risk_check is None:
            ok, self.verdict = True, "risk check: not available yet (engine/trading/risk.py)"
        else:
            ok, reason = self.risk_check(self.order)
            self.verdict = f"risk: {'OK' if ok else 'REJECTED'}{' — ' + reason if reason else ''}"
        notional = ""
        if self.mark is not None:
            notional = f" · ≈ {float(self.order.qty) * self.mark:,.2f} {self.instrument.quote_ccy}"
        colour = "green" if ok else "red"
        self.query_one("#verdict", Static).update(f"[{colour}]{self.verdict}[/]{notional}")
        submit.disabled = not ok
        submit.label = "Confirm LIVE order" if self._confirming else "Submit"

    def action_submit(self) -> None:
        self.review()
        if self.order is None or self.query_one("#submit", Button).disabled:
            return
        if self.live and not self._confirming:
            self._confirming = True
            self.query_one("#submit", Button).label = "Confirm LIVE order"
            self.query_one("#verdict", Static).update(
                "[red b]This order goes to a LIVE account. Press Submit again to confirm.[/]"
            )
            return
        self.dismiss(self.order)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#submit")
    def _submit(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()

    @on(Input.Submitted)
    def _enter(self) -> None:
        self.action_submit()


def _s(value: Decimal | None) -> str:
    return "" if value is None else f"{value:f}"
