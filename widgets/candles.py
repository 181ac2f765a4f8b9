"""Rasterising OHLC bars into terminal cells: pure functions, no Textual.

Each cell is split into an upper and a lower half; a half shows the candle's body, its wick, or
nothing, and the pair picks one box-drawing glyph (heavy = body, light = wick). That gives real
candlesticks at twice the terminal's vertical resolution with one column per candle. numpy is
imported by the functions that take arrays, not by this module (an empty chart needs none).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

NONE, WICK, BODY = 0, 1, 2
GLYPH = {
    (NONE, NONE): " ",
    (BODY, BODY): "┃",
    (BODY, NONE): "╹",
    (NONE, BODY): "╻",
    (WICK, WICK): "│",
    (WICK, NONE): "╵",
    (NONE, WICK): "╷",
    (WICK, BODY): "╽",
    (BODY, WICK): "╿",
}
VOLUME_GLYPHS = " ▁▂▃▄▅▆▇█"


def group_bars(
    o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray, k: int
) -> tuple[np.ndarray, ...]:
    """Merge every ``k`` consecutive bars (aligned to the right end) into one."""
    if k <= 1:
        return o, h, lo, c, v
    n = len(c) // k * k
    start = len(c) - n
    o, h, lo, c, v = (a[start:].reshape(-1, k) for a in (o, h, lo, c, v))
    return o[:, 0], h.max(1), lo.min(1), c[:, -1], v.sum(1)


def price_range(h: np.ndarray, lo: np.ndarray, *extra: np.ndarray) -> tuple[float, float]:
    """Low and high of everything on screen, padded so candles never touch the edges."""
    import numpy as np

    values = [lo[np.isfinite(lo)], h[np.isfinite(h)]]
    values += [e[np.isfinite(e)] for e in extra]
    flat = np.concatenate(values) if values else np.empty(0)
    if flat.size == 0:
        return 0.0, 1.0
    bottom, top = float(flat.min()), float(flat.max())
    if top <= bottom:
        pad = abs(top) * 1e-3 or 1.0
        return bottom - pad, top + pad
    pad = (top - bottom) * 0.04
    return bottom - pad, top + pad


def candle_cells(
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    rows: int,
    bottom: float,
    top: float,
) -> np.ndarray:
    """(rows, n) array of glyph codes (upper*3 + lower), row 0 at the top."""
    import numpy as np

    n = len(c)
    out = np.zeros((rows, n), dtype=np.int8)
    if n == 0 or rows <= 0:
        return out
    scale = rows / (top - bottom)
    hi_y = (h - bottom) * scale
    lo_y = (lo - bottom) * scale
    b_top = (np.maximum(o, c) - bottom) * scale
    b_bot = (np.minimum(o, c) - bottom) * scale
    half_centres = (np.arange(rows * 2) + 0.5) / 2  # from the bottom, in rows
    centres = half_centres[:, None]
    body = (centres >= b_bot[None, :]) & (centres <= b_top[None, :])
    wick = (centres >= lo_y[None, :]) & (centres <= hi_y[None, :])
    # A doji or a body thinner than half a cell still gets one half cell at its middle.
    empty = ~body.any(axis=0) & np.isfinite(c) & np.isfinite(b_top + b_bot)
    if empty.any():
        idx = np.nonzero(empty)[0]
        mid = np.clip(((b_top[idx] + b_bot[idx]) / 2 * 2).astype(np.int64), 0, rows * 2 - 1)
        body[mid, idx] = True
    state = np.where(body, BODY, np.where(wick, WICK, NONE)).astype(np.int8)
    state[:, ~np.isfinite(c)] = NONE
    lower = state[0::2][::-1]
    upper = state[1::2][::-1]
    out[:] = upper * 3 + lower
    return out


GLYPH_BY_CODE = [" "] * 9
for (_u, _l), _g in GLYPH.items():
    GLYPH_BY_CODE[_u * 3 + _l] = _g


def volume_cells(v: np.ndarray, rows: int) -> list[str]:
    """Volume bars as ``rows`` strings (top first), eighth-block resolution."""
    import numpy as np

    n = len(v)
    if rows <= 0:
        return []
    if n == 0:
        return [""] * rows
    finite = np.where(np.isfinite(v), v, 0.0)
    peak = float(finite.max()) or 1.0
    eighths = np.round(finite / peak * rows * 8).astype(np.int64)
    lines = []
    for r in range(rows):
        level = rows - 1 - r
        fill = np.clip(eighths - level * 8, 0, 8)
        lines.append("".join(VOLUME_GLYPHS[f] for f in fill))
    return lines


def value_row(value: float, rows: int, bottom: float, top: float) -> int | None:
    """The screen row (0 at top) of a price, or None when off screen or not finite."""
    if not math.isfinite(value) or not bottom <= value <= top:
        return None
    y = (value - bottom) / (top - bottom) * rows
    return min(rows - 1, max(0, rows - 1 - int(y)))


def nice_ticks(bottom: float, top: float, count: int) -> list[float]:
    """About ``count`` round price levels between bottom and top, for the axis."""
    if count <= 0 or top <= bottom:
        return []
    raw = (top - bottom) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(bottom / step) * step
    return [first + i * step for i in range(int((top - first) / step) + 1)]


NEUTRAL_BAND = 0.05
"""A sentiment score within this of zero reads as neutral (VADER's own convention)."""
NEWS_GLYPHS = {"positive": "▲", "negative": "▼", "neutral": "•"}


def tone(score: float | None) -> str:
    """``positive``, ``negative`` or ``neutral`` (an unscored item is neutral)."""
    if score is None or not math.isfinite(score) or abs(score) < NEUTRAL_BAND:
        return "neutral"
    return "positive" if score > 0 else "negative"


def news_cells(
    ts: np.ndarray,
    tf_ns: int,
    start: int,
    end: int,
    k: int,
    cols: int,
    marks: Sequence[tuple[int, float | None]],
) -> dict[int, str]:
    """The plot column of each news mark (``(ts_ns, score)``) among the ``cols`` columns drawn
    of bars ``[start, end)`` grouped by ``k`` (aligned right, as :func:`group_bars` groups
    them), with its column's tone (:func:`tone` of the mean score there). A mark belongs to
    the last bar that starts at or before it; one before the first bar drawn, or after the
    newest bar's end, is not drawn."""
    import numpy as np

    if cols <= 0 or end <= start or not marks or k < 1:
        return {}
    groups = (end - start) // k
    first = end - groups * k
    skipped = groups - cols  # grouped columns left of the plot
    last_end = int(ts[end - 1]) + tf_ns
    stamps = np.fromiter((t for t, _ in marks), dtype=np.int64, count=len(marks))
    at = np.searchsorted(ts[:end], stamps, side="right") - 1
    scores: dict[int, list[float]] = {}
    for (stamp, score), i in zip(marks, at.tolist(), strict=True):
        if i < first or stamp >= last_end:
            continue
        x = (i - first) // k - skipped
        if x < 0:
            continue
        column = scores.setdefault(x, [])
        if score is not None and math.isfinite(score):
            column.append(score)
    return {x: tone(sum(s) / len(s) if s else None) for x, s in scores.items()}
