"""The reliability diagram shows a ``qws calibrate --json`` report as a trader reads it: every
bucket with cases, its hit rate and Wilson interval; a missing model or a bad report as a line."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from engine.signals.calibration import calibration_report, wilson_interval
from widgets.reliability import ReliabilityDiagram, read_report

ROOT = Path(__file__).resolve().parents[2]
# (n, hits) per decile of P(up): the ends empty, one empty bucket between full ones
COUNTS = [(0, 0), (0, 0), (12, 3), (150, 60), (1800, 850), (0, 0), (2000, 1080), (380, 230),
          (30, 20), (0, 0)]  # fmt: skip
BAR_CHARS = set("▏▎▍▌▋▊▉█│")


def _report(counts: list[tuple[int, int]] = COUNTS, **extra: Any) -> dict[str, Any]:
    return {
        "n": sum(n for n, _ in counts),
        "horizon": 4,
        "ece": 0.035,
        "brier": 0.2018,
        "brier_base": 0.2502,
        "skill": 0.193,
        "base_rate": 0.512,
        "buckets": [
            {"lo": i / 10, "hi": (i + 1) / 10, "n": n, "hits": h} for i, (n, h) in enumerate(counts)
        ],
        "version": 3,
    } | extra


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield ReliabilityDiagram()


async def _drawn(size: tuple[int, int], report: dict[str, Any]) -> list[str]:
    app = _Host()
    async with app.run_test(size=size) as pilot:
        diagram = app.query_one(ReliabilityDiagram)
        diagram.show(report, "EURUSD 1h")
        await pilot.pause()
        assert diagram.size == size
        return str(diagram.render()).split("\n")


def _expected(n: int, hits: int) -> tuple[str, str, str]:
    lo, hi = wilson_interval(hits, n)
    return f"{n:,}", f"{hits / n:.1%}", f"{100 * lo:.1f}–{100 * hi:.1f}%"


async def test_every_bucket_with_cases_shows_its_count_hit_rate_and_wilson_interval() -> None:
    lines = await _drawn((80, 14), _report())
    assert lines[0] == "Calibration EURUSD 1h · P(up in 4 bars) · model v3 · 4,372 cases"
    assert lines[-1] == ("Brier 0.2018 vs base 0.2502 · skill +0.193 · ECE 0.035 · base rate 51.2%")
    assert all(len(line) <= 80 for line in lines)
    for i, (n, hits) in enumerate(COUNTS):
        label = f"{i * 10}–{(i + 1) * 10}%"
        row = [line for line in lines if line.strip().startswith(label)]
        if not n:
            continue
        assert len(row) == 1, label
        assert row[0].split()[-3:] == list(_expected(n, hits))
        assert BAR_CHARS & set(row[0])
    assert _expected(1800, 850) == ("1,800", "47.2%", "44.9–49.5%")


async def test_empty_buckets_show_only_between_full_ones_and_with_no_rate() -> None:
    lines = await _drawn((80, 14), _report())
    assert lines[1].split()[:4] == ["P(up)", "0", "50", "100%"]
    labels = [line.split()[0] for line in lines[2:-1]]
    assert labels == ["20–30%", "30–40%", "40–50%", "50–60%", "60–70%", "70–80%", "80–90%"]
    empty = next(line for line in lines if line.strip().startswith("50–60%"))
    assert empty.split() == ["50–60%", "0", "–"]


async def test_the_bar_ends_at_the_hit_rate_and_the_marker_sits_at_the_midpoint() -> None:
    counts = [(0, 0)] * 5 + [(100, 50)] + [(0, 0)] * 4
    lines = await _drawn((80, 8), _report(counts))
    assert lines[1].startswith(" P(up) 0")
    start, end = len(" P(up) "), lines[1].index("100%") + len("100%")
    row = next(line for line in lines if line.startswith("50–60%"))
    assert row[end:].split() == ["100", "50.0%", "40.4–59.6%"]
    bar = row[start:end]
    width = len(bar)
    assert lines[1][start + width // 2 - 1 : start + width // 2 + 1] == "50"
    assert bar.index("│") == int(0.55 * width)
    assert bar[: width // 2] == "█" * (width // 2)  # 50 %, in eighths of a cell
    assert bar[width // 2 :].replace("│", "").rstrip() == ("▌" if width % 2 else "")


async def test_when_short_the_thinnest_buckets_go_and_the_footer_says_what_they_held() -> None:
    lines = await _drawn((80, 6), _report())
    assert len(lines) == 6
    shown = [line.split()[0] for line in lines[1:-1]]
    assert shown == ["30–40%", "40–50%", "60–70%", "70–80%"]  # the four with most cases
    assert lines[-1].endswith(" · +2 hidden (42 cases)")
    assert "skill +0.193" in lines[-1]


async def test_narrow_the_bar_goes_first_and_every_number_stays_whole() -> None:
    for width in (40, 33):
        lines = await _drawn((width, 14), _report())
        assert not any(BAR_CHARS & set(line) for line in lines)
        assert all(len(line) <= width for line in lines)
        for n, hits in COUNTS:
            if n:
                row = next(line for line in lines if line.split()[1:2] == [f"{n:,}"])
                assert row.split()[-2:] == list(_expected(n, hits))[1:]
        assert lines[-1].startswith("Brier 0.2018 · skill +0.193")
    at_60 = await _drawn((60, 14), _report())
    assert sum(bool(BAR_CHARS & set(line)) for line in at_60) == 6  # the bar is back
    assert at_60[0] == "Calibration EURUSD 1h · P(up in 4 bars) · v3 · 4,372 cases"


async def test_an_undefined_skill_reads_n_a_and_a_real_report_reads_as_it_is_printed() -> None:
    real = calibration_report([0.1, 0.2, 0.65, 0.7, 0.9], [0, 1, 1, 0, 1], horizon=1)
    wide = await _drawn((80, 14), real.as_dict() | {"skill": None})
    assert wide[0] == "Calibration EURUSD 1h · P(up in 1 bar) · 5 cases"
    assert "skill n/a" in wide[-1]
    lines = await _drawn((40, 14), real.as_dict())  # no bar: the columns alone
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:-1]}
    assert list(rows) == [f"{lo}–{lo + 10}%" for lo in range(10, 100, 10)]
    assert rows["60–70%"] == ["1", "100.0%", "20.7–100.0%"]  # 0.65 and up
    assert rows["70–80%"] == ["1", "0.0%", "0.0–79.3%"]  # 0.7 lands in the bucket from 0.7
    assert rows["40–50%"] == ["0", "–"]


async def test_a_missing_model_says_why() -> None:
    app = _Host()
    async with app.run_test(size=(60, 10)) as pilot:
        diagram = app.query_one(ReliabilityDiagram)
        assert str(diagram.render()) == "Calibration\nno symbol selected"
        diagram.show(_report(), "EURUSD 1h")
        diagram.show_missing("GBPUSD 4h", "no model yet: needs 623 bars, has 256")
        await pilot.pause()
        assert diagram.calibration is None
        assert str(diagram.render()) == (
            "Calibration GBPUSD 4h\nno model yet: needs 623 bars, has 256"
        )


def _bucket(report: dict[str, Any], i: int, **fields: Any) -> dict[str, Any]:
    buckets = [dict(b) for b in report["buckets"]]
    buckets[i] |= fields
    return report | {"buckets": buckets}


BAD = [
    (_bucket(_report(), 2, hits=13), "bucket 3 (20–30%) has hits 13 > n 12"),
    (_bucket(_report(), 3, n=-1), "bucket 4 (30–40%) n must be >= 0, got -1"),
    (_report(brier=math.nan), "brier must be in [0, 1], got nan"),
    (_report(skill=math.inf), "skill must be a finite number <= 1, got inf"),
    ({k: v for k, v in _report().items() if k not in ("n", "ece")}, "missing n, ece"),
    (_report(n=4_000), "buckets hold 4,372 cases but n is 4,000"),
    (_bucket(_report(), 1, hi=0.25), "bucket 3 starts at 0.2 inside bucket 2 (ends 0.25)"),
    (_report(buckets=[]), "buckets must be a non-empty list, got []"),
]


@pytest.mark.parametrize(("report", "why"), BAD)
def test_a_bad_report_is_refused_saying_what_and_where(report: dict[str, Any], why: str) -> None:
    with pytest.raises(ValueError) as caught:
        read_report(report)
    assert str(caught.value) == why


async def test_a_bad_report_shows_as_a_line_and_a_good_one_replaces_it() -> None:
    app = _Host()
    async with app.run_test(size=(60, 10)) as pilot:
        diagram = app.query_one(ReliabilityDiagram)
        diagram.show(_bucket(_report(), 2, hits=13), "EURUSD 1h")
        await pilot.pause()
        assert diagram.unreadable and diagram.calibration is None
        assert str(diagram.render()).split("\n") == [
            "Calibration EURUSD 1h",
            "calibration report unreadable: bucket 3 (20–30%) has hits 13",
            "> n 12",
        ]
        diagram.show(_report(), "EURUSD 1h")
        await pilot.pause()
        assert not diagram.unreadable and diagram.problem == ""
        assert str(diagram.render()).startswith("Calibration EURUSD 1h · P(up in 4 bars)")


def test_the_diagram_snapshot(snap_compare: Callable[..., bool]) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        pilot.app.query_one(ReliabilityDiagram).show(_report(), "EURUSD 1h")
        await pilot.pause()

    assert snap_compare(_Host(), terminal_size=(80, 10), run_before=run_before)


def test_the_module_does_not_import_numpy() -> None:
    """The dashboard's first frame places the widget; numpy loads with the first report."""
    probe = "import sys, widgets.reliability; print('numpy' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
