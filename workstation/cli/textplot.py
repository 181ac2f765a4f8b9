"""A line chart in plain text (for ``qws backtest --plot`` and other headless output)."""

from __future__ import annotations

import math

import numpy as np

_LEVELS = " ▁▂▃▄▅▆▇█"


def line_chart(values: np.ndarray, width: int = 72, height: int = 12, title: str = "") -> str:
    """Column chart of ``values`` resampled to ``width`` columns (last value of each column),
    ``height`` rows of eighth-block resolution, with the min/max labelled on the axis."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return f"{title}\n(no data)" if title else "(no data)"
    width = max(1, min(width, len(v)))
    edges = np.linspace(0, len(v), width + 1).astype(int)
    cols = np.array([v[max(e - 1, 0)] for e in edges[1:]])
    lo, hi = float(cols.min()), float(cols.max())
    span = hi - lo if hi > lo else 1.0
    eighths = np.round((cols - lo) / span * (height * 8 - 1)).astype(int) + 1
    lines = []
    label_w = max(len(_fmt(lo)), len(_fmt(hi)))
    for row in range(height - 1, -1, -1):
        base = row * 8
        chars = "".join(_LEVELS[min(max(e - base, 0), 8)] for e in eighths)
        label = _fmt(hi) if row == height - 1 else _fmt(lo) if row == 0 else ""
        lines.append(f"{label:>{label_w}} │{chars}")
    lines.append(" " * label_w + " └" + "─" * width)
    return "\n".join(([title] if title else []) + lines)


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "nan"
    return f"{x:,.2f}" if abs(x) < 1e6 else f"{x:,.0f}"
