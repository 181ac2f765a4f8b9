"""The reliability diagram: is the learnt P(up) of the selected symbol right as often as it says?

Its screen hands it a ``qws calibrate --json`` object (``show``) or the reason there is none
(``show_missing``). One row per confidence bucket with cases: the bucket, a bar of the observed
hit rate with a marker where a calibrated model would be (the bucket's midpoint: the report
carries no mean forecast per bucket), the cases, the hit rate and its Wilson 95 % interval. A
bucket whose interval misses its midpoint is told apart. Empty buckets between full ones show
dim, so a gap reads as a gap; empty ones at the ends are left out.

Every line is built from whole parts and fitted to the width: when narrow the bar goes first,
then lower-priority words; a number is dropped whole or shown whole, never cut. When the panel
is too short for every bucket the thinnest go first, and the footer says how many cases they
held. A report that does not read (missing keys, hits > n, NaN ...) shows as one line saying
what is wrong and where, never as a crash.

The engine (and so numpy) is imported only when a report arrives: the first frame shows the
widget without it.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

__all__ = ["Calibration", "ReliabilityDiagram", "ReliabilityRow", "read_report"]

_EIGHTHS = " ▏▎▍▌▋▊▉█"
_MARKER = "│"
_MIN_BAR = 10
_KEYS = ("n", "horizon", "ece", "brier", "brier_base", "skill", "base_rate", "buckets")


@dataclass(frozen=True, slots=True)
class ReliabilityRow:
    """One confidence bucket ``[lo, hi)`` of P(up): its cases, hits and Wilson 95 % interval
    (``ci_lo``, ``ci_hi``; ``(0, 1)`` when empty)."""

    lo: float
    hi: float
    n: int
    hits: int
    ci_lo: float
    ci_hi: float

    @property
    def midpoint(self) -> float:
        return (self.lo + self.hi) / 2

    @property
    def rate(self) -> float:
        """Observed hit rate; nan when the bucket is empty."""
        return self.hits / self.n if self.n else math.nan

    @property
    def off(self) -> bool:
        """The interval misses the midpoint: this bucket is not calibrated, at 95 %."""
        return self.n > 0 and not self.ci_lo <= self.midpoint <= self.ci_hi


@dataclass(frozen=True, slots=True)
class Calibration:
    """A checked ``qws calibrate --json`` report. ``skill`` is None when undefined."""

    n: int
    horizon: int
    ece: float
    brier: float
    brier_base: float
    skill: float | None
    base_rate: float
    rows: tuple[ReliabilityRow, ...]
    version: int | None = None
    fitted: str | None = None


def _int(value: object, where: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where} must be a whole number, got {value!r}")
    if value < low:
        raise ValueError(f"{where} must be >= {low}, got {value:,}")
    return value


def _unit(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where} must be a number, got {value!r}")
    x = float(value)
    if not 0.0 <= x <= 1.0:  # NaN fails both
        raise ValueError(f"{where} must be in [0, 1], got {x}")
    return x


def _bucket_label(lo: object, hi: object) -> str:
    if isinstance(lo, int | float) and isinstance(hi, int | float):
        return f" ({_pct(float(lo))}–{_pct(float(hi))}%)"
    return ""


def _row(i: int, raw: object) -> ReliabilityRow:
    from engine.signals.calibration import wilson_interval

    where = f"bucket {i}"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} is not an object: {raw!r}")
    missing = [k for k in ("lo", "hi", "n", "hits") if k not in raw]
    if missing:
        raise ValueError(f"{where} lacks {', '.join(missing)}")
    where += _bucket_label(raw["lo"], raw["hi"])
    lo, hi = _unit(raw["lo"], f"{where} lo"), _unit(raw["hi"], f"{where} hi")
    if not lo < hi:
        raise ValueError(f"{where} has lo {lo} >= hi {hi}")
    n = _int(raw["n"], f"{where} n", 0)
    hits = _int(raw["hits"], f"{where} hits", 0)
    if hits > n:
        raise ValueError(f"{where} has hits {hits:,} > n {n:,}")
    ci_lo, ci_hi = wilson_interval(hits, n)
    return ReliabilityRow(lo, hi, n, hits, ci_lo, ci_hi)


def read_report(report: object) -> Calibration:
    """The report checked and with each bucket's Wilson interval, or a ValueError saying what
    is wrong and where (buckets are numbered from 1)."""
    if not isinstance(report, Mapping):
        raise ValueError(f"expected an object, got {type(report).__name__}")
    missing = [k for k in _KEYS if k not in report]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    n = _int(report["n"], "n", 0)
    horizon = _int(report["horizon"], "horizon", 1)
    ece, brier, brier_base, base_rate = (
        _unit(report[k], k) for k in ("ece", "brier", "brier_base", "base_rate")
    )
    raw_skill = report["skill"]
    skill: float | None = None
    if raw_skill is not None:
        if isinstance(raw_skill, bool) or not isinstance(raw_skill, int | float):
            raise ValueError(f"skill must be a number or null, got {raw_skill!r}")
        if not math.isfinite(raw_skill) or raw_skill > 1.0:
            raise ValueError(f"skill must be a finite number <= 1, got {raw_skill}")
        skill = float(raw_skill)
    buckets = report["buckets"]
    if isinstance(buckets, str | bytes) or not isinstance(buckets, Sequence) or not buckets:
        raise ValueError(f"buckets must be a non-empty list, got {buckets!r}")
    rows = tuple(_row(i, b) for i, b in enumerate(buckets, start=1))
    for i, (a, b) in enumerate(pairwise(rows), start=1):
        if b.lo < a.hi:
            raise ValueError(f"bucket {i + 1} starts at {b.lo} inside bucket {i} (ends {a.hi})")
    held = sum(r.n for r in rows)
    if held != n:
        raise ValueError(f"buckets hold {held:,} cases but n is {n:,}")
    version = report.get("version")
    if version is not None:
        version = _int(version, "version", 0)
    fitted = report.get("fitted")
    if fitted is not None and not isinstance(fitted, str):
        raise ValueError(f"fitted must be text, got {fitted!r}")
    return Calibration(
        n, horizon, ece, brier, brier_base, skill, base_rate, rows, version, fitted or None
    )


def _pct(x: float) -> str:
    """A bucket edge in percent: ``30``, ``2.5``."""
    return f"{round(x * 100, 1):g}"


def _fit(parts: Sequence[Sequence[tuple[int, str]]], width: int, sep: str = " · ") -> str:
    """Join ``parts`` in order, fitted to ``width``. Each part is its forms, longest first, each
    with its priority (0 the most wanted, never dropped): the form now shown with the highest
    number gives way to the part's next form, or, after its last, the part goes."""
    form = [0] * len(parts)

    def line() -> str:
        return sep.join(forms[f][1] for forms, f in zip(parts, form, strict=True) if f < len(forms))

    while len(line()) > width:
        now = [(forms[f][0], i) for i, (forms, f) in enumerate(zip(parts, form, strict=True))
               if f < len(forms) and forms[f][0] > 0]  # fmt: skip
        if not now:
            break
        form[max(now)[1]] += 1
    return line()


def _bar(rate: float, mid: float, width: int, bar: Style, marker: Style) -> Text:
    """``rate`` of ``width`` cells in eighths, the marker at ``mid`` drawn over it."""
    eighths = round(rate * width * 8) if math.isfinite(rate) else 0
    cells = [_EIGHTHS[min(8, max(0, eighths - 8 * c))] for c in range(width)]
    at = min(width - 1, int(mid * width))
    out = Text()
    for c, cell in enumerate(cells):
        if c == at:
            out.append(_MARKER, marker + Style(bgcolor=bar.color) if cell == "█" else marker)
        else:
            out.append(cell, bar)
    return out


def _axis(width: int) -> str:
    """``0``, ``50`` and ``100%`` under a bar ``width`` cells wide, 50 only with room around it."""
    end = "100%"
    mid = width // 2 - 1  # "50" straddles the 50 % edge
    if mid >= 3 and mid + 2 <= width - len(end) - 2:
        return f"{'0':<{mid}}50{end:>{width - mid - 2}}"
    return f"{'0':<{width - len(end)}}{end}"


class ReliabilityDiagram(Widget):
    """Calibration of the learnt P(up) for one symbol and timeframe (see the module doc)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "reliability--title",
        "reliability--label",
        "reliability--bar",
        "reliability--marker",
        "reliability--off",
        "reliability--empty",
        "reliability--error",
        "reliability--good",
        "reliability--bad",
    }
    DEFAULT_CSS = """
    ReliabilityDiagram { height: 1fr; }
    ReliabilityDiagram > .reliability--title { text-style: bold; }
    ReliabilityDiagram > .reliability--label { color: $text-muted; }
    ReliabilityDiagram > .reliability--bar { color: $primary; background: $boost; }
    ReliabilityDiagram > .reliability--marker { color: $accent; text-style: bold; }
    ReliabilityDiagram > .reliability--off { color: $warning; }
    ReliabilityDiagram > .reliability--empty { color: $text-disabled; }
    ReliabilityDiagram > .reliability--error { color: $error; }
    ReliabilityDiagram > .reliability--good { color: $success; }
    ReliabilityDiagram > .reliability--bad { color: $error; }
    """

    title: reactive[str] = reactive("")
    """What is shown, e.g. ``EURUSD 1h``."""
    calibration: reactive[Calibration | None] = reactive(None)
    """The report shown, checked; None when there is none."""
    problem: reactive[str] = reactive("no symbol selected")
    """Why there is no report to show (missing model, unreadable report); "" when shown."""
    unreadable: reactive[bool] = reactive(False)
    """The last report given did not read: ``problem`` says why."""

    def show(self, report: Mapping[str, Any], title: str) -> None:
        """Show a ``qws calibrate --json`` report (``version``, ``fitted`` optional)."""
        self.title = title
        try:
            calibration = read_report(report)
        except ValueError as exc:
            self.unreadable = True
            self.calibration = None
            self.problem = f"calibration report unreadable: {exc}"
            return
        self.unreadable = False
        self.calibration = calibration
        self.problem = "" if calibration.n else "no scored case yet"

    def show_missing(self, title: str, reason: str) -> None:
        """No report: say why (``no model yet: needs 623 bars, has 256``)."""
        self.title = title
        self.unreadable = False
        self.calibration = None
        self.problem = reason

    def lines(self, width: int, height: int) -> list[Text]:
        """The diagram as ``height`` lines at most, none wider than ``width``."""
        width, height = max(1, width), max(1, height)
        style = self.get_component_rich_style
        cal = self.calibration
        title_parts: list[list[tuple[int, str]]] = [[(0, f"Calibration {self.title}".rstrip())]]
        if cal is None or self.problem:
            head = Text(_fit(title_parts, width), style("reliability--title", partial=True))
            kind = "reliability--error" if self.unreadable else "reliability--label"
            wrapped = textwrap.wrap(self.problem, width, break_long_words=False) or [""]
            tail = [Text(w, style(kind, partial=True)) for w in wrapped]
            return [head, *tail][:height]
        bars = f"{cal.horizon:,} bar{'s' if cal.horizon != 1 else ''}"
        title_parts.append([(2, f"P(up in {bars})")])
        if cal.version is not None:
            title_parts.append([(4, f"model v{cal.version}"), (3, f"v{cal.version}")])
        title_parts.append([(1, f"{cal.n:,} cases")])
        if cal.fitted:
            title_parts.append([(5, f"fitted {cal.fitted}")])
        head = Text(_fit(title_parts, width), style("reliability--title", partial=True))

        rows = self._rows(cal, height)
        shown = [r for r in cal.rows if r in rows]
        hidden = [r for r in cal.rows if r.n and r not in rows]
        body, labels = self._table(shown, width)
        footer = self._footer(cal, hidden, width)
        out = [head]
        if labels is not None and len(shown) + 3 <= height:
            out.append(labels)
        return [*out, *body, footer][:height] if height > 1 else [head]

    def _rows(self, cal: Calibration, height: int) -> set[ReliabilityRow]:
        """The buckets that get a line: those with cases, and empty ones between them, the
        thinnest dropped first when there are more than lines."""
        full = [i for i, r in enumerate(cal.rows) if r.n]
        if not full:
            return set()
        candidates = cal.rows[full[0] : full[-1] + 1]
        room = max(0, height - 2)
        kept = sorted(candidates, key=lambda r: -r.n)[:room]
        return set(kept)

    def _table(self, rows: list[ReliabilityRow], width: int) -> tuple[list[Text], Text | None]:
        style = self.get_component_rich_style
        label_style = style("reliability--label", partial=True)
        empty = style("reliability--empty", partial=True)
        off = style("reliability--off", partial=True)
        ranges = [f"{_pct(r.lo)}–{_pct(r.hi)}%" for r in rows]
        counts = [f"{r.n:,}" for r in rows]
        rates = [f"{r.rate:.1%}" if r.n else "–" for r in rows]
        cis = [f"{100 * r.ci_lo:.1f}–{100 * r.ci_hi:.1f}%" if r.n else "" for r in rows]
        heads = ("P(up)", "cases", "hit", "95% CI")
        cols = [ranges, counts, rates, cis]
        widths = [max([len(h), *map(len, c)]) for h, c in zip(heads, cols, strict=True)]
        # whole columns, lowest-priority (rightmost) first; the bar before any of them
        keep = len(cols)
        while keep > 1 and sum(widths[:keep]) + 2 * (keep - 1) > width:
            keep -= 1
        fixed = sum(widths[:keep]) + 2 * (keep - 1)
        bar_w = width - fixed - 2 if keep == len(cols) else 0
        if bar_w < _MIN_BAR:
            bar_w = 0
        bar = style("reliability--bar", partial=True)
        marker = style("reliability--marker", partial=True)

        def cells(values: Sequence[str], styles: Sequence[Style]) -> Text:
            line = Text()
            for k in range(keep):
                if k:
                    line.append("  ")
                v = values[k]
                line.append(v.ljust(widths[k]) if k == 3 else v.rjust(widths[k]), styles[k])
            return line

        lines = []
        for i, r in enumerate(rows):
            values = (ranges[i], counts[i], rates[i], cis[i])
            if not r.n:
                styles: Sequence[Style] = (empty,) * 4
            else:
                styles = (label_style, Style(), off if r.off else Style(), label_style)
            line = cells(values, styles)
            if bar_w:
                head, rest = line[: widths[0]], line[widths[0] :]
                track = _bar(r.rate, r.midpoint, bar_w, bar, marker) if r.n else Text(
                    " " * bar_w, empty
                )  # fmt: skip
                line = Text.assemble(head, " ", track, rest)
            lines.append(line)
        if not rows:
            return [], None
        labels = cells(heads, (label_style,) * 4)
        if bar_w:
            labels_axis = _axis(bar_w)
            head, rest = labels[: widths[0]], labels[widths[0] :]
            labels = Text.assemble(head, " ", Text(labels_axis, label_style), rest)
        return lines, labels

    def _footer(self, cal: Calibration, hidden: list[ReliabilityRow], width: int) -> Text:
        skill = "skill n/a" if cal.skill is None else f"skill {cal.skill:+.3f}"
        brier = f"Brier {cal.brier:.4f}"
        parts = [
            [(4, f"{brier} vs base {cal.brier_base:.4f}"), (1, brier)],
            [(0, skill)],
            [(3, f"ECE {cal.ece:.3f}")],
            [(6, f"base rate {cal.base_rate:.1%}")],
        ]
        if hidden:
            k, count = len(hidden), sum(r.n for r in hidden)
            long = f"+{k} thin bucket{'s' if k > 1 else ''} hidden ({count:,} cases)"
            parts.append([(5, long), (2, f"+{k} hidden ({count:,} cases)")])
        style = self.get_component_rich_style
        text = Text(_fit(parts, width), style("reliability--label", partial=True))
        if cal.skill is not None:
            kind = "reliability--good" if cal.skill > 0 else "reliability--bad"
            text.highlight_words([skill], style(kind, partial=True))
        return text

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="crop")
        for i, line in enumerate(self.lines(self.size.width, self.size.height)):
            if i:
                out.append("\n")
            out.append_text(line)
        return out
