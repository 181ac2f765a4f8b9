"""The command bar: a one-line input that appears on ``:`` and hands its text to the screen.

It does not interpret anything: the screen parses with :func:`engine.commands.parse`. Up/down
walk the history of submitted lines. :meth:`open` takes the focus at once, not after the
events already queued: the keys typed right after ``:`` land in the bar, never on a hotkey
(the screen's ``:`` binding is a priority one, so it runs as the key arrives).
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class CommandBar(Input):
    DEFAULT_CSS = """
    CommandBar {
        dock: bottom; layer: overlay; visibility: hidden; border: tall $accent; height: 3;
    }
    CommandBar.-open { visibility: visible; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="command.close"),
        Binding("up", "history(-1)", "Previous", show=False, id="command.previous"),
        Binding("down", "history(1)", "Next", show=False, id="command.next"),
    ]

    class Entered(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            placeholder="buy 0.1 BTC/USDT limit 60000 sl 58000 · chart XAUUSD 4h · help",
            **kwargs,  # type: ignore[arg-type]
        )
        self.history: list[str] = []
        self._at = 0

    def open(self, text: str = "") -> None:
        self.add_class("-open")
        self.value = text
        self.cursor_position = len(text)
        self.screen.set_focus(self)

    def action_close(self) -> None:
        self.remove_class("-open")
        self.value = ""
        self.screen.focus_next()

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._at = max(0, min(len(self.history), self._at + step))
        self.value = self.history[self._at] if self._at < len(self.history) else ""
        self.cursor_position = len(self.value)

    async def action_submit(self) -> None:
        text = self.value.strip()
        if text:
            self.history = [*self.history[-49:], text]
        self._at = len(self.history)
        self.remove_class("-open")
        self.value = ""
        if text:
            self.post_message(self.Entered(text))
