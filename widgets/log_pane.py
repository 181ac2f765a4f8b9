"""The log/alerts pane: timestamped lines, newest at the bottom, bounded (``max_lines``)."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.widgets import RichLog

_STYLES = {"info": "", "warning": "yellow", "error": "bold red", "success": "green"}


class LogPane(RichLog):
    DEFAULT_CSS = """
    LogPane { height: 1fr; }
    """

    def __init__(self, clock: Callable[[], int] = time.time_ns, **kwargs: object) -> None:
        super().__init__(max_lines=500, wrap=True, markup=False, **kwargs)  # type: ignore[arg-type]
        self.clock = clock
        self.entries: list[tuple[str, str]] = []

    def add(self, text: str, severity: str = "info") -> None:
        stamp = time.strftime("%H:%M:%S", time.gmtime(self.clock() / 1e9))
        self.entries = [*self.entries[-199:], (severity, text)]
        line = Text(f"{stamp} ", style="dim")
        line.append(text, style=_STYLES.get(severity, ""))
        self.write(line)
