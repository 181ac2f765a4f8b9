"""The order ticket: a modal that proposes an order and returns it, never sends it itself.

Quantity and prices are shown as they will be sent: rounded to the instrument's lot and tick
grid, with the rounding spelled out. The risk verdict (from the callable the app passes) is
shown before the Submit button is enabled; a live order needs a second, explicit confirmation.

Sizing from risk: given a risk % of the account equity and a stop-loss price, the ticket fills
an empty quantity (or any quantity, on Size / ctrl+r) with the size whose loss at the stop is
that much of the equity (:func:`engine.trading.risk.size_order`, from the limit/stop price or
the mark), rounded *down* to the lot, and spells the sum out. Without the equity, a stop loss or
an entry price, or when the size is below one lot, it refuses and says why; nothing is guessed.

Worked over time: with Algo TWAP or VWAP and a horizon (``30m``, ``2h``), and optionally a cap
on the share of the market's volume, the ticket returns an :class:`AlgoChoice` (the runtime
plans and works the parent; its children are checked one by one); the verdict is the check of
the whole quantity as one order, so a limit that the children will meet is shown up front.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from engine.model import Instrument, ModelError, Order, OrderType, Side, to_decimal
from engine.timeframes import TimeframeError, parse_duration
from engine.trading.risk import RiskError, fixed_fraction_size, size_order
from workstation.trading.oms import new_client_id
from workstation.ui.screens.messages import AlgoChoice, TicketDraft

RiskCheck = Callable[[Order], tuple[bool, str]]


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


class OrderTicket(ModalScreen[Order | AlgoChoice | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="ticket.cancel"),
        Binding("ctrl+s", "submit", "Submit", id="ticket.submit"),
        Binding("ctrl+r", "size", "Size from risk %", id="ticket.size"),
    ]
    # below 28 rows the form drops its blank lines between rows (app.tcss: OrderTicket.-short);
    # Textual declares it a plain attribute, so a ClassVar annotation would not type-check
    VERTICAL_BREAKPOINTS = [(0, "-short"), (28, "-roomy")]  # noqa: RUF012

    def __init__(
        self,
        instrument: Instrument,
        draft: TicketDraft,
        mark: float | None = None,
        risk_check: RiskCheck | None = None,
        live: bool = False,
        venue: str = "paper",
        equity: float | None = None,
        quote_to_account: float = 1.0,
    ) -> None:
        """``equity`` (account currency; ``None`` when unknown) is what a risk % is a share of;
        ``quote_to_account`` converts the instrument's quote currency into it (1 when they are
        the same currency)."""
        super().__init__(id="order-ticket")
        self.instrument = instrument
        self.draft = draft
        self.mark = mark
        self.risk_check = risk_check
        self.live = live
        self.venue = venue
        self.equity = equity
        self.quote_to_account = quote_to_account
        self.order: Order | None = None
        self.choice: AlgoChoice | None = None
        """Set when the form asks for a TWAP/VWAP of :attr:`order`."""
        self.error = ""
        self.verdict = ""
        self.sizing = ""  # the sizing line: the sum, or why the ticket refused to size
        self.sized_qty: Decimal | None = None  # the last size computed from the risk %
        self._auto_qty: str | None = None  # the quantity text the sizing filled in
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
                yield Label("Algo")
                yield Select(
                    [("None: one order", ""), ("TWAP", "twap"), ("VWAP", "vwap")],
                    value=d.algo, allow_blank=False, compact=True, id="algo",
                )  # fmt: skip
                yield Label("Over, max%")
                with Horizontal(id="algo-row"):
                    yield Input(d.over, placeholder="30m, 2h", compact=True, id="over")
                    yield Input(
                        ""
                        if d.max_participation is None
                        else _s((d.max_participation * 100).normalize()),
                        placeholder="max % of volume",
                        compact=True,
                        id="cap",
                    )
                yield Label("Risk %")
                yield Input(
                    placeholder="equity unknown"
                    if self.equity is None
                    else f"of equity {self.equity:,.2f}, with a stop loss",
                    compact=True,
                    id="risk",
                )
            yield Static("", id="sizing", markup=False)
            yield Static("", id="rounding")
            yield Static("", id="verdict")
            with Horizontal(id="ticket-buttons"):
                yield Button("Size", compact=True, id="size")
                yield Button("Submit", variant="primary", compact=True, id="submit")
                yield Button("Cancel", compact=True, id="cancel")

    def on_mount(self) -> None:
        self.query_one("#qty", Input).focus()
        self.autosize()
        self.review()

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self, event: Input.Changed | Select.Changed) -> None:
        self._confirming = False
        # the user's own edits of the quantity are never overwritten (nor refilled when cleared)
        self.autosize(fill=not (isinstance(event, Input.Changed) and event.input.id == "qty"))
        self.review()

    def risk_size(self) -> Decimal:
        """The quantity whose loss at the stop loss is the risk % of the equity, rounded down
        to the lot (entry: the limit/stop price, or the mark for a market order); a ModelError
        saying why there is none. Sets the sizing line."""
        inst = self.instrument
        risk = _optional(self.query_one("#risk", Input).value, "risk %")
        if risk is None:
            raise ModelError("enter a risk % and a stop loss to size the quantity")
        if risk > 100:
            raise ModelError(f"risk % must be at most 100, got {risk}")
        equity = self.equity
        if equity is None:
            raise ModelError("cannot size from risk: equity unknown (enter the quantity)")
        if not (math.isfinite(equity) and equity > 0):
            raise ModelError(f"cannot size from risk: equity is {equity:,.2f}")
        raw_sl = _optional(self.query_one("#sl", Input).value, "stop loss")
        if raw_sl is None:
            raise ModelError("cannot size from risk without a stop loss (SL) price")
        side_value = self.query_one("#side", Select).value
        kind_value = self.query_one("#type", Select).value
        if not isinstance(side_value, str) or not isinstance(kind_value, str):  # Select.NULL
            raise ModelError("choose a side and an order type")
        side, kind = Side(side_value), OrderType(kind_value)
        if kind is OrderType.MARKET:
            if self.mark is None or not (math.isfinite(self.mark) and self.mark > 0):
                raise ModelError("cannot size from risk: no mark price to enter at")
            entry = float(self.mark)
        else:
            price = _optional(self.query_one("#price", Input).value, "price")
            if price is None:
                raise ModelError(f"cannot size from risk: enter the {kind} price first")
            entry = float(inst.round_price(price))
        sl = float(inst.round_price(raw_sl))  # the stop as it will be sent
        if not (sl < entry if side is Side.BUY else sl > entry):
            where = "below" if side is Side.BUY else "above"
            raise ModelError(
                f"a {side}'s stop loss must be {where} the entry {inst.format_price(entry)}"
                f" to size from risk (SL {inst.format_price(sl)})"
            )
        fraction = float(risk) / 100
        try:
            raw = fixed_fraction_size(equity, fraction, entry, sl, self.quote_to_account)
            qty = size_order(inst, equity, fraction, entry, sl, self.quote_to_account)
        except RiskError as exc:
            raise ModelError(f"cannot size from risk: {exc}") from None
        head = f"risk {float(risk):.2f}% of {equity:,.2f} = {equity * fraction:,.2f} at SL"
        if qty <= 0:
            minimum = f", minimum {inst.min_qty:f}" if inst.min_qty > inst.lot_size else ""
            raise ModelError(
                f"{head} → {raw:.6g}: below one lot ({inst.lot_size:f}{minimum}), not sized"
            )
        with contextlib.suppress(InvalidOperation):  # a multiple of the lot, with its decimals
            qty = qty.quantize(inst.lot_size)
        self.sizing = f"{head} → qty {qty:f} (rounded down to lot {inst.lot_size:f})"
        return qty

    def autosize(self, force: bool = False, fill: bool = True) -> None:
        """Size the quantity from the risk %: into an empty quantity or one the sizing filled
        in (when ``fill``), into any quantity when ``force`` (Size / ctrl+r); otherwise the
        size is only shown. A size filled in that no longer holds is taken back."""
        box = self.query_one("#qty", Input)
        line = self.query_one("#sizing", Static)
        if self._auto_qty is not None and box.value != self._auto_qty:
            self._auto_qty = None  # the user typed their own quantity
        auto = fill and (not box.value.strip() or self._auto_qty is not None)
        self.sized_qty = None
        if not force and not self.query_one("#risk", Input).value.strip():
            self.sizing = ""
        else:
            try:
                self.sized_qty = self.risk_size()
            except ModelError as exc:
                self.sizing = str(exc)
        sized = self.sized_qty
        if sized is not None and (auto or force):
            self._auto_qty = _s(sized)
            if box.value != self._auto_qty:
                box.value = self._auto_qty
        elif sized is None and auto and self._auto_qty is not None:
            box.value = ""  # a size that no longer holds is not left behind
            self._auto_qty = None
        elif sized is not None and box.value != _s(sized):
            self.sizing += " · Size (ctrl+r) to use it"
        line.update(self.sizing)
        line.display = bool(self.sizing)
        line.set_class(sized is None, "-refused")

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

    def algo_choice(self, order: Order) -> AlgoChoice | None:
        """The algorithm the form asks for with ``order`` (None for one order), or a
        ModelError saying what is missing."""
        algo = self.query_one("#algo", Select).value
        if not isinstance(algo, str) or not algo:
            return None
        if order.type is not OrderType.MARKET or order.sl is not None or order.tp is not None:
            raise ModelError(f"{algo.upper()} works its own children: type Market, no SL/TP")
        over = self.query_one("#over", Input).value.strip()
        try:
            parse_duration(over)
        except TimeframeError:
            raise ModelError(f"{algo.upper()} needs a horizon: 30m, 2h, 1h30m") from None
        cap = _optional(self.query_one("#cap", Input).value.rstrip("% "), "max %")
        if cap is not None and cap > 100:
            raise ModelError("max % of volume is at most 100")
        return AlgoChoice(order, algo, over, None if cap is None else cap / 100)

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
            self.choice = self.algo_choice(self.order)
        except ModelError as exc:
            self.order, self.choice, self.error = None, None, str(exc)
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
        worked = ""
        if self.choice is not None:
            worked = f" · {self.choice.algo.upper()} over {self.choice.over}"
            if self.choice.max_participation is not None:
                worked += f", max {self.choice.max_participation:.0%} of volume"
        self.query_one("#verdict", Static).update(f"[{colour}]{self.verdict}[/]{notional}{worked}")
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
        self.dismiss(self.choice or self.order)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#submit")
    def _submit(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()

    def action_size(self) -> None:
        self._confirming = False
        self.autosize(force=True)
        self.review()

    @on(Button.Pressed, "#size")
    def _size_pressed(self) -> None:
        self.action_size()

    @on(Input.Submitted)
    def _enter(self) -> None:
        self.action_submit()


def _s(value: Decimal | None) -> str:
    return "" if value is None else f"{value:f}"
