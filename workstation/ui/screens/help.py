"""The help screen: every key binding (from the classes that declare them) and the commands."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from engine.commands import HELP


def binding_rows(owners: Iterable[tuple[str, type]]) -> list[tuple[str, str, str, str]]:
    """(where, keys, what, id) for every Binding with an id declared by ``owners``."""
    rows = []
    for where, cls in owners:
        for b in getattr(cls, "BINDINGS", []):
            if isinstance(b, Binding) and b.id:
                keys = ", ".join(k.strip() for k in b.key.split(","))
                rows.append((where, keys, b.description or b.action, b.id))
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f1", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, owners: Iterable[tuple[str, type]]) -> None:
        super().__init__(id="help")
        self.rows = binding_rows(owners)

    def compose(self) -> ComposeResult:
        keys = Table(title="Keys", expand=True, show_edge=False)
        keys.add_column("Where", no_wrap=True)
        keys.add_column("Keys", no_wrap=True)
        keys.add_column("What", min_width=16)
        keys.add_column("Binding id", overflow="fold")  # long ids wrap before "What" shrinks
        for row in self.rows:
            keys.add_row(*row)
        commands = Table(title="Command bar (press :)", expand=True, show_edge=False)
        commands.add_column("Commands")
        for line in HELP:
            commands.add_row(line)
        with VerticalScroll(id="help-body"):
            yield Static(keys)
            yield Static(commands)
            yield Static(
                'Key ids can be remapped in the config file ([keymap] id = "key").'
                " Esc closes this screen.",
                id="help-footer",
            )

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
