"""The backtest screen's "save report": ctrl+s (or its button) writes the last run's HTML report
in a thread worker and says where."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App
from textual.widgets import Button

from feeds.demo import DemoFeed
from tests.workstation.ui.ui_helpers import frozen_clock, wait_for
from workstation.ui.screens.backtest import BacktestScreen


class _Host(App[None]):
    def __init__(self, reports: Path | None, run_now: bool = True) -> None:
        super().__init__()
        self.reports = reports
        self.run_now = run_now
        self.said: list[tuple[str, str]] = []

    def on_mount(self) -> None:
        feed = DemoFeed(tick_interval_s=0, history_bars=600, clock=frozen_clock)
        self.push_screen(
            BacktestScreen(
                feed,
                "ETH/USDT",
                "1h",
                "sma_cross",
                {"fast": 5, "slow": 20},
                run_now=self.run_now,
                reports_dir=self.reports,
            )
        )

    def notify(self, message: str, *args: Any, severity: str = "information", **kw: Any) -> None:
        self.said.append((severity, message))
        super().notify(message, *args, severity=severity, **kw)  # type: ignore[arg-type]


async def _ran(app: _Host) -> BacktestScreen:
    await wait_for(lambda: isinstance(app.screen, BacktestScreen) and app.screen.result is not None)
    assert isinstance(app.screen, BacktestScreen)
    return app.screen


async def test_ctrl_s_writes_the_report_of_the_last_run_and_says_where(tmp_path: Path) -> None:
    reports = tmp_path / "reports"  # made by the screen
    app = _Host(reports)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _ran(app)
        await pilot.press("ctrl+s")
        await wait_for(lambda: any("report written" in m for _, m in app.said))
        files = list(reports.iterdir())
        assert len(files) == 1 and files[0].name.startswith("sma_cross-ETH_USDT-")
        assert files[0].suffix == ".html"
        assert app.said[-1] == ("information", f"report written: {files[0]}")
        text = files[0].read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
        assert '"name":"candles"' in text and "sma_cross(fast=5, slow=20) on ETH/USDT 1h" in text
        assert screen.result.trades.height > 0
        screen.query_one("#bt-save", Button).press()  # the button does the same
        await wait_for(lambda: sum("report written" in m for _, m in app.said) == 2)


async def test_save_before_any_run_says_to_run_first(tmp_path: Path) -> None:
    app = _Host(tmp_path, run_now=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: isinstance(app.screen, BacktestScreen))
        await pilot.press("ctrl+s")
        await wait_for(lambda: bool(app.said))
        assert app.said == [("warning", "run a backtest first (ctrl+r), then save its report")]
        assert list(tmp_path.iterdir()) == []


async def test_a_report_that_cannot_be_written_is_an_error_notice(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    app = _Host(blocked / "reports")
    async with app.run_test(size=(120, 40)) as pilot:
        await _ran(app)
        await pilot.press("ctrl+s")
        await wait_for(lambda: bool(app.said))
        severity, message = app.said[-1]
        assert severity == "error" and message.startswith("report not written: ")
