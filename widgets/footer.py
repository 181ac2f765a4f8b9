"""Textual's Footer, recomposed only when what it shows changes.

Textual's Footer rebuilds all its keys on every change of the screen's bindings: each focus
move, each screen pushed or popped. Recomposing mounts a dozen widgets and lays out the whole
screen (tens of ms under a quote burst), which a key such as ``:`` or Esc then waits for. Here
the shown bindings are compared first, and an unchanged footer is left as it is; a change is
applied once the bindings have stayed put for ``settle_s`` (0.15 s), after the key that caused
it has been answered, and a focus that moves away and back in that time (``:`` then Esc)
rebuilds nothing.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer


def shown_bindings(screen: Screen[object]) -> tuple[Hashable, ...]:
    """What a Footer on ``screen`` would show: every shown binding's key, text, action, group,
    enabled state and tooltip, in order (the command palette's binding included)."""
    return tuple(
        (b.key, b.key_display, b.description, b.action, id(b.group), enabled, tooltip)
        for (_, b, enabled, tooltip) in screen.active_bindings.values()
        if b.show or b.key == screen.app.COMMAND_PALETTE_BINDING
    )


class QuietFooter(Footer):
    _shown: tuple[Hashable, ...] | None = None
    _settle: Timer | None = None

    def __init__(self, *args: Any, settle_s: float = 0.15, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settle_s = settle_s
        self.rebuilds = 0

    def bindings_changed(self, screen: Screen[object]) -> None:
        if not (self.is_attached and screen.app.app_focus and screen is self.screen):
            super().bindings_changed(screen)
            return
        if not self._bindings_ready:  # the first build: at once
            self._rebuild(screen)
            return
        if self._settle is not None:
            self._settle.stop()
        self._settle = self.set_timer(self.settle_s, lambda: self._settled(screen))

    def _settled(self, screen: Screen[object]) -> None:
        self._settle = None
        if self.is_attached and screen is self.screen and shown_bindings(screen) != self._shown:
            self._rebuild(screen)

    def _rebuild(self, screen: Screen[object]) -> None:
        self._shown = shown_bindings(screen)
        self.rebuilds += 1
        super().bindings_changed(screen)
