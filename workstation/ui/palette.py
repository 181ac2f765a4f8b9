"""The command palette (ctrl+p) speaks the command bar's language too.

Whatever is typed is read by :func:`engine.commands.parse`; a readable command becomes one hit
that runs it on the dashboard (an order still only opens the ticket), anything else shows the
parser's message as the hit's help.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider

from engine.commands import HELP, Command, CommandError, parse
from workstation.ui.screens.dashboard import understood_line


@runtime_checkable
class CommandConsole(Protocol):
    """A screen that reads the command bar's language (the dashboard is one)."""

    def command_symbols(self) -> Sequence[str]: ...

    def command_aliases(self) -> Mapping[str, str]: ...

    def run_command(self, text: str) -> Command | None: ...

    def open_command_bar(self) -> None: ...


class WorkstationCommands(Provider):
    def _console(self) -> CommandConsole | None:
        """The topmost screen that runs commands: under the palette, or under the screen the
        palette was opened on (the dashboard beneath a backtest, say)."""
        for screen in reversed(self.app.screen_stack):
            if isinstance(screen, CommandConsole):
                return screen
        return None

    async def discover(self) -> Hits:
        console = self._console()
        if console is None:
            return
        for line in HELP:
            yield DiscoveryHit(line, console.open_command_bar, help="type it after ctrl+p or :")

    async def search(self, query: str) -> Hits:
        console = self._console()
        text = query.strip()
        if console is None or not text:
            return
        try:
            command = parse(text, console.command_symbols(), aliases=console.command_aliases())
        except CommandError as exc:
            yield Hit(0.1, f"{text}  ✗", console.open_command_bar, text=text, help=str(exc))
            return

        def run() -> None:
            console.run_command(text)

        summary = understood_line(command).removeprefix("understood: ") or ", ".join(
            f"{k}={v}" for k, v in command.entities.items() if v not in (None, {}, [])
        )
        yield Hit(1.0, f"{text}  ⏎", run, text=text, help=f"{command.intent}: {summary}")
