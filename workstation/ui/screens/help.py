"""The help screen: every key binding (from the classes that declare them) and the commands.

Everything here is shown as plain text, never read as markup: the command syntax is full of
``[optional]`` parts. The keys are grouped by where they work; the binding ids (what the
config's ``[keymap]`` names) are never cut.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby
from typing import ClassVar

from rich.console import RenderableType
from rich.segment import Segment
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.css.styles import RulesMap
from textual.keys import format_key
from textual.screen import ModalScreen
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions, RichVisual
from textual.widget import Widget
from textual.widgets import Static

from engine.commands import HELP


def key_label(key: str) -> str:
    """A key as a user types it: ``colon`` -> ``:``, ``ctrl+t`` stays ``ctrl+t``."""
    *modifiers, name = key.strip().split("+")
    return "+".join([*modifiers, format_key(name)])


def binding_rows(owners: Iterable[tuple[str, type]]) -> list[tuple[str, str, str, str]]:
    """(where, keys, what, id) for every Binding with an id declared by ``owners``."""
    rows = []
    for where, cls in owners:
        for b in getattr(cls, "BINDINGS", []):
            if isinstance(b, Binding) and b.id:
                keys = ", ".join(key_label(k) for k in b.key.split(","))
                rows.append((where, keys, b.description or b.action, b.id))
    return rows


def keys_table(rows: Iterable[tuple[str, str, str, str]]) -> Table:
    """The bindings, a section per place they work in, as plain text."""
    table = Table(title="Keys", expand=True, show_edge=False)
    table.add_column("Keys", no_wrap=True)
    table.add_column("What", ratio=1)
    table.add_column("Binding id", no_wrap=True)
    for where, group in groupby(rows, key=lambda row: row[0]):
        table.add_row(Text(where, style="bold"), "", "")
        members = list(group)
        for i, (_, keys, what, binding_id) in enumerate(members):
            table.add_row(
                Text(keys), Text(what), Text(binding_id), end_section=i == len(members) - 1
            )
    return table


def commands_table(lines: Iterable[str] = HELP) -> Table:
    table = Table(title="Command bar (press :)", expand=True, show_edge=False)
    table.add_column("Commands")
    for line in lines:
        table.add_row(Text(line))
    return table


class _KeptRender(RichVisual):
    """A rich renderable drawn once per width and style: Textual measures a widget's height by
    rendering it, at every layout pass, then renders it again to draw it, and the help's keys
    table costs about 10 ms a render (the screen's first showing lays it out four times). The
    height is read off the strips that will be drawn, rendered as :class:`RichVisual` does."""

    def __init__(self, widget: Widget, renderable: RenderableType) -> None:
        super().__init__(widget, renderable)
        self._owner = widget
        self._table = renderable
        self._strips: dict[tuple[int, Style], list[Strip]] = {}

    def _lines(self, width: int, style: Style) -> list[Strip]:
        key = (width, style)
        if key not in self._strips:
            app = self._owner.app
            options = app.console_options.update(highlight=False, width=width, height=None)
            renderable = self._owner.post_render(self._table, style.rich_style)
            segments = app.console.render(renderable, options)
            self._strips[key] = [
                Strip(line)
                for line in Segment.split_and_crop_lines(
                    segments, width, include_new_lines=False, pad=False
                )
            ]
        return self._strips[key]

    def get_height(self, rules: RulesMap, width: int) -> int:
        return len(self._lines(width, self._owner.visual_style))

    def render_strips(
        self, width: int, height: int | None, style: Style, options: RenderOptions
    ) -> list[Strip]:
        lines = self._lines(width, style)
        return lines if height is None else lines[:height]


class _Table(Static):
    """A Static whose rich table is rendered once per width, not at every layout pass."""

    def __init__(self, table: Table, *, id: str) -> None:
        super().__init__(id=id)
        self._table = table
        self._kept: _KeptRender | None = None

    def render(self) -> _KeptRender:
        if self._kept is None:
            self._kept = _KeptRender(self, self._table)
        return self._kept


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f1", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, owners: Iterable[tuple[str, type]]) -> None:
        super().__init__(id="help")
        self.rows = binding_rows(owners)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield _Table(keys_table(self.rows), id="help-keys")
            yield _Table(commands_table(), id="help-commands")
            yield Static(
                'Key ids can be remapped in the config file ([keymap] id = "key").'
                " Esc closes this screen.",
                id="help-footer",
                markup=False,
            )

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
