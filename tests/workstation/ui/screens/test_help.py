"""The help screen shows every binding id whole and the command syntax with its ``[...]``
parts, at 80x24 and 160x50 (the screen alone in a host app with the workstation's styles)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from textual.app import App
from textual.containers import VerticalScroll
from textual.pilot import Pilot

from engine.commands import HELP
from workstation.ui.app import QwsApp
from workstation.ui.screens.help import HelpScreen, binding_rows, key_label

SIZES = [(80, 24), (160, 50)]
OWNERS = QwsApp.help_owners()


class _Host(App[None]):
    CSS_PATH = "../../../../workstation/ui/app.tcss"

    def on_mount(self) -> None:
        self.push_screen(HelpScreen(OWNERS))


async def _all_lines(pilot: Pilot) -> list[str]:
    """Every line the help body shows, scrolled from top to bottom."""
    body = pilot.app.screen.query_one("#help-body", VerticalScroll)
    lines: list[str] = []
    y = 0
    while True:
        body.scroll_to(y=y, animate=False)
        await pilot.pause()
        region = body.content_region
        strips = pilot.app.screen._compositor.render_strips()
        lines += [s.crop(region.x, region.right).text for s in strips[region.y : region.bottom]]
        if y >= body.max_scroll_y:
            return lines
        y = min(body.max_scroll_y, y + region.height)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_binding_id_is_shown_whole(size: tuple[int, int]) -> None:
    app = _Host()
    async with app.run_test(size=size) as pilot:
        text = "\n".join(await _all_lines(pilot))
    for *_, binding_id in binding_rows(OWNERS):
        assert re.search(rf"(^|\s){re.escape(binding_id)}(\s|$)", text, re.M), binding_id


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_command_syntax_keeps_its_brackets(size: tuple[int, int]) -> None:
    app = _Host()
    async with app.run_test(size=size) as pilot:
        lines = await _all_lines(pilot)
    flowed = " ".join(" ".join(line.split()) for line in lines)
    for line in HELP:
        assert " ".join(line.split()) in flowed, line
    assert "[tp PRICE]" in flowed and "[TF]" in flowed
    assert '([keymap] id = "key")' in flowed


def test_keys_are_shown_as_typed() -> None:
    assert key_label("colon") == ":"
    assert key_label("question_mark") == "?"
    assert key_label("ctrl+t") == "ctrl+t"
    assert key_label("left_square_bracket") == "["
    rows = {row[3]: row[1] for row in binding_rows(OWNERS)}
    assert rows["app.help"] == "f1, ?"
    assert rows["dashboard.command"] == ":"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_screen_snapshot(snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    assert snap_compare(_Host(), terminal_size=size)


async def test_the_tables_render_once_per_width_however_often_the_screen_is_laid_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Textual measures a height by rendering; the help's tables are rendered once per width
    (the first F1 would otherwise hold the keys through several renders of 70 rows)."""
    from rich.table import Table

    from workstation.ui.screens import help as help_module

    renders: list[int] = []

    class Counted(Table):
        def __rich_console__(self, console, options):  # type: ignore[no-untyped-def]
            renders.append(options.max_width)
            yield from super().__rich_console__(console, options)

    made = help_module.keys_table

    def counted_keys_table(rows):  # type: ignore[no-untyped-def]
        table = made(rows)
        table.__class__ = Counted
        return table

    monkeypatch.setattr(help_module, "keys_table", counted_keys_table)
    app = _Host()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert len(renders) == 1
        for _ in range(3):
            app.screen.refresh(layout=True)
            await pilot.pause()
        assert len(renders) == 1
        await pilot.resize_terminal(140, 30)
        await pilot.pause()
        assert len(renders) == 2 and renders[1] > renders[0]
        assert "app.help" in "\n".join(await _all_lines(pilot))
