"""Asks the user about one live order a strategy wants to send (``trading.confirm_live``):
the order in full, Send or Refuse; escape refuses, and so does the runtime's timeout."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from engine.model import Order


def describe(order: Order) -> str:
    price = f" @ {order.price:f}" if order.price is not None else " at market"
    brackets = "".join(
        f" {name} {level:f}" for name, level in (("SL", order.sl), ("TP", order.tp)) if level
    )
    return f"{order.side} {order.qty:f} {order.symbol} {order.type}{price}{brackets}"


class ConfirmOrder(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "refuse", "Refuse", id="confirm.refuse"),
    ]

    def __init__(self, order: Order, who: str) -> None:
        super().__init__()
        self.order = order
        self.who = who

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-order"):
            yield Static(f"[b]LIVE order from {self.who}[/b]", id="confirm-title")
            yield Static(describe(self.order), id="confirm-detail")
            with Horizontal(id="confirm-buttons"):
                yield Button("Send", variant="error", id="confirm-send")
                yield Button("Refuse", variant="primary", id="confirm-refuse")

    def on_mount(self) -> None:
        self.query_one("#confirm-refuse", Button).focus()  # the safe choice has the focus

    @on(Button.Pressed, "#confirm-send")
    def _send(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-refuse")
    def action_refuse(self) -> None:
        self.dismiss(False)
