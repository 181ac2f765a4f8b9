"""Text views of a parameter sweep (``qws backtest --optimize``): the header, the metric's
heatmap over the first two axes and the top-N table, as lines for the command to print.

The heatmap's rows are the second axis, its columns the first; a cell with no valid
combination (or an undefined metric: no trade) is ``·``. With colour (a terminal), each cell
is shaded on a red-to-green ramp from the lowest value to the highest and the best is bold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.backtest.performance import STAT_LABELS
from engine.backtest.sweep import Sweep, score
from workstation.cli.backtest import _fmt

TOP_STATS = ("return_pct", "sharpe", "max_drawdown_pct", "win_rate_pct", "trades")
"""The stats of the top table (and the sweep's metric after them when it is not one)."""

EMPTY = "·"

MAX_ACROSS = 60
"""The most heatmap columns drawn: wider, the heatmap is left out (``--json`` has them all)."""

RAMP = (196, 202, 208, 214, 220, 226, 190, 154, 118, 82, 46)
"""xterm-256 background colours from the lowest value (red) to the highest (green)."""


def header(sweep: Sweep, source: str, elapsed: float) -> list[str]:
    """One line: what ran, over what, how many combinations, how and how long."""
    how = "batched" if sweep.batched else "one at a time"
    skipped = f"{len(sweep.skipped)} skipped"
    if sweep.skipped:
        skipped += f" (e.g. {sweep.skipped[0][1]})"
    return [
        f"{sweep.strategy} on {source}: {sweep.bars:,} bars, {len(sweep.runs):,} combinations"
        f" run ({how}), {skipped}, {elapsed:.2f} s"
    ]


def heatmap(sweep: Sweep, colour: bool = False) -> list[str]:
    """The metric over the first two axes (one row with a single axis)."""
    names = list(sweep.axes)
    x = names[0]
    if len(names) == 1:
        xs = sweep.axes[x]
        row = np.full(len(xs), np.nan)
        for run in sweep.runs:
            v = score(run.stats, sweep.metric)
            i = xs.index(run.params[x])
            if math.isfinite(v) and not v <= row[i]:
                row[i] = v
        title = f"{sweep.metric} by {x}"
        return _grid(title, x, sweep.metric, xs, [sweep.metric], row[None, :], colour)
    y = names[1]
    xs, ys, values = sweep.grid(x, y)
    title = f"{sweep.metric} by {x} (columns) and {y} (rows)"
    if len(names) > 2:
        title += f"; each cell the best over {', '.join(names[2:])}"
    return _grid(title, f"{y}\\{x}", None, xs, ys, values, colour)


def _grid(
    title: str,
    corner: str,
    row_label: str | None,
    xs: Sequence[Any],
    ys: Sequence[Any],
    values: np.ndarray,
    colour: bool,
) -> list[str]:
    if len(xs) > MAX_ACROSS:
        return [
            title,
            f"heatmap left out: {len(xs)} columns, at most {MAX_ACROSS} are drawn"
            " (--json has every combination)",
        ]
    cells = [[EMPTY if math.isnan(v) else _fmt(float(v)) for v in row] for row in values]
    heads = [str(v) for v in xs]
    labels = [row_label or str(v) for v in ys]
    width = max(len(t) for t in [*heads, *(c for row in cells for c in row)])
    left = max(len(t) for t in [corner, *labels])
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    lines = [title, f"{corner:>{left}}  " + " ".join(f"{h:>{width}}" for h in heads)]
    for label, row_values, row_cells in zip(labels, values, cells, strict=True):
        shown = [
            _shade(f"{c:>{width}}", float(v), lo, hi) if colour and math.isfinite(v) else
            f"{c:>{width}}"
            for v, c in zip(row_values, row_cells, strict=True)
        ]  # fmt: skip
        lines.append(f"{label:>{left}}  " + " ".join(shown))
    if colour and finite.size:
        ramp = "".join(f"\x1b[48;5;{c}m \x1b[0m" for c in RAMP)
        lines.append(f"{'':>{left}}  {_fmt(lo)} {ramp} {_fmt(hi)} (bold: the best)")
    return lines


def _shade(text: str, v: float, lo: float, hi: float) -> str:
    """``text`` on the ramp's colour for ``v`` between ``lo`` and ``hi`` (bold at ``hi``)."""
    t = (v - lo) / (hi - lo) if hi > lo else 1.0
    code = RAMP[round(t * (len(RAMP) - 1))]
    bold = "1;" if v == hi else ""
    return f"\x1b[{bold}30;48;5;{code}m{text}\x1b[0m"


def top_table(sweep: Sweep, top: int) -> list[str]:
    """The best ``top`` runs: rank, the swept parameters and the key stats, best first (the
    other parameters, the same in every run, said once above)."""
    keys = [*TOP_STATS, *([] if sweep.metric in TOP_STATS else [sweep.metric])]
    heads = ["#", "params", *(STAT_LABELS.get(k, k) for k in keys)]
    rows = [
        [
            str(rank),
            ", ".join(f"{k}={run.params[k]}" for k in sweep.axes),
            *(_fmt(run.stats.get(k)) for k in keys),
        ]
        for rank, run in enumerate(sweep.runs[:top], 1)
    ]
    widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(len(heads))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            f"{c:<{w}}" if i == 1 else f"{c:>{w}}"
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    shown = f"top {len(rows)} of {len(sweep.runs):,} by {sweep.metric}"
    others = {k: v for k, v in sweep.best.params.items() if k not in sweep.axes}
    if others:
        shown += f" (the others: {', '.join(f'{k}={v}' for k, v in others.items())})"
    return [shown, line(heads), *(line(r) for r in rows)]
