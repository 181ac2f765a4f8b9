"""Textual's Footer, recomposed only when what it shows changes.

Textual's Footer rebuilds all its keys on every change of the screen's bindings: each focus
move, each screen pushed or popped. Recomposing mounts a dozen widgets and lays out the whole
screen (tens of ms under a quote burst), which a key such as ``:`` or Esc then waits for. Here
the shown bindings are compared first, and an unchanged footer is left as it is.
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.screen import Screen
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

    def bindings_changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen.app.app_focus and screen is self.screen:
            shown = shown_bindings(screen)
            if self._bindings_ready and shown == self._shown:
                return
            self._shown = shown
        super().bindings_changed(screen)
