"""The command palette (ctrl+p) speaks the command bar's language too.

Whatever is typed is read by :func:`engine.commands.parse`; a readable command becomes one hit
that runs it on the dashboard (an order still only opens the ticket), anything else shows the
parser's message as the hit's help.
"""

from __future__ import annotations

from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from engine.commands import HELP, CommandError, parse


class WorkstationCommands(Provider):
    async def discover(self) -> Hits:
        for line in HELP:
            yield DiscoveryHit(line, self._open_bar, help="type it after ctrl+p or :")

    def _open_bar(self) -> None:
        app: Any = self.app
        app.dashboard.action_command()

    async def search(self, query: str) -> Hits:
        app: Any = self.app
        text = query.strip()
        if not text:
            return
        try:
            command = parse(text, app.feed.symbols())
        except CommandError as exc:
            yield Hit(0.1, f"{text}  ✗", self._open_bar, text=text, help=str(exc))
            return

        def run() -> None:
            app.dashboard.run_command(text)

        summary = ", ".join(f"{k}={v}" for k, v in command.entities.items() if v not in (None, {}))
        yield Hit(1.0, f"{text}  ⏎", run, text=text, help=f"{command.intent}: {summary}")
