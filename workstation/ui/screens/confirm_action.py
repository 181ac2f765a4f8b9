"""Asks the user to confirm one trading action typed as a command (moving the protection of a
position): what it does in full, Do it or Keep; escape keeps things as they are."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmAction(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "keep", "Keep", id="confirm_action.keep"),
    ]

    def __init__(self, title: str, detail: str) -> None:
        super().__init__()
        self.title_text = title
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-order"):
            yield Static(Text(self.title_text, style="bold"), id="confirm-title")
            yield Static(self.detail, id="confirm-detail", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button("Do it", variant="warning", id="confirm-do")
                yield Button("Keep", variant="primary", id="confirm-keep")

    def on_mount(self) -> None:
        self.query_one("#confirm-keep", Button).focus()  # the safe choice has the focus

    @on(Button.Pressed, "#confirm-do")
    def _do(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-keep")
    def action_keep(self) -> None:
        self.dismiss(False)
