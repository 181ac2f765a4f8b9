"""The strategies the runtime runs (and those configured but stopped): position and P&L each.
Rows come down as plain dicts (``set_rows``); ``s`` on a row asks to start or stop it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable


class StrategiesTable(DataTable[Text | str]):
    DEFAULT_CSS = "StrategiesTable { height: 1fr; }"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "toggle_strategy", "Start/stop strategy", id="strategies.toggle"),
    ]

    class Toggle(Message):
        """Start the highlighted strategy if it is stopped, stop it if it runs."""

        def __init__(self, key: str, running: bool) -> None:
            super().__init__()
            self.key = key
            self.running = running

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.rows_by_key: dict[str, Mapping[str, Any]] = {}

    def on_mount(self) -> None:
        columns = (
            ("key", "Strategy", 28), ("state", "State", 8), ("pos", "Position", 12),
            ("pnl", "P&L", 12), ("orders", "Orders", 7),
        )  # fmt: skip
        for key, label, width in columns:
            self.add_column(label, key=key, width=width)

    def set_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.rows_by_key = {str(r["key"]): r for r in rows}
        self.clear()
        for key, r in self.rows_by_key.items():
            pnl = float(r.get("pnl", 0.0))
            style = "green" if pnl > 0 else "red" if pnl < 0 else ""
            state = "paused" if r.get("paused") else "running" if r.get("running") else "stopped"
            self.add_row(
                key, state, Text(f"{float(r.get('position', 0.0)):g}", justify="right"),
                Text(f"{pnl:,.2f}", style=style, justify="right"),
                Text(str(r.get("orders", 0)), justify="right"), key=key,
            )  # fmt: skip

    def action_toggle_strategy(self) -> None:
        if not self.rows_by_key or self.cursor_row < 0:
            return
        key = list(self.rows_by_key)[min(self.cursor_row, len(self.rows_by_key) - 1)]
        self.post_message(self.Toggle(key, bool(self.rows_by_key[key].get("running"))))
