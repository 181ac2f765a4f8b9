"""The cycle panel: the QPE phase spectrum as bars, the dominant cycle and where we are in it.

Receives :class:`~workstation.messages.CyclesComputed`; until the detector exists (or while it
runs) it says so instead of drawing anything.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from rich.style import Style
from rich.text import Text
from textual import on
from textual.widget import Widget

from workstation.messages import CyclesComputed

_BLOCKS = " ▁▂▃▄▅▆▇█"


def spectrum_rows(power: np.ndarray, rows: int, width: int) -> list[str]:
    """Vertical bars of ``power`` (one column per bin, DC bin dropped), ``rows`` high."""
    values = np.asarray(power, dtype=np.float64)[1:]
    values = values[: max(0, width)]
    if rows <= 0 or values.size == 0:
        return []
    peak = float(values.max()) or 1.0
    eighths = np.round(values / peak * rows * 8).astype(np.int64)
    return [
        "".join(_BLOCKS[f] for f in np.clip(eighths - (rows - 1 - r) * 8, 0, 8))
        for r in range(rows)
    ]


class CyclePanel(Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"cycle--bar", "cycle--peak", "cycle--label"}
    DEFAULT_CSS = """
    CyclePanel { height: 1fr; }
    CyclePanel > .cycle--bar { color: $primary; }
    CyclePanel > .cycle--peak { color: $accent; text-style: bold; }
    CyclePanel > .cycle--label { color: $text-muted; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.result: CyclesComputed | None = None
        self.status = "QPE cycle detector: waiting for bars"

    def set_status(self, text: str) -> None:
        self.status = text
        self.refresh()

    @on(CyclesComputed)
    def _on_cycles(self, message: CyclesComputed) -> None:
        self.set_result(message)

    def set_result(self, result: CyclesComputed) -> None:
        self.result = result
        self.status = ""
        self.refresh()

    def summary(self) -> str:
        r = self.result
        if r is None:
            return self.status
        parts = [f"{r.symbol} {r.timeframe}"]
        if r.cycles:
            top = r.cycles[0]
            parts.append(f"dominant {top.period_bars:.1f} bars · strength {top.strength:.0%}")
        else:
            parts.append("no dominant cycle")
        if r.phase is not None:
            p = r.phase
            nxt = "trough" if p.bars_to_trough < p.bars_to_peak else "peak"
            parts.append(f"next {nxt} in {min(p.bars_to_trough, p.bars_to_peak):.1f} bars")
        parts.append(f"{r.backend} {r.elapsed_ms:.0f} ms")
        return " · ".join(parts)

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="crop")
        label = self.get_component_rich_style("cycle--label", partial=True)
        out.append(self.summary()[: self.size.width], label)
        r = self.result
        if r is None or r.spectrum is None or self.size.height < 3:
            return out
        rows = self.size.height - 2
        lines = spectrum_rows(r.spectrum, rows, self.size.width)
        peak_col = r.cycles[0].k - 1 if r.cycles else -1
        bar = self.get_component_rich_style("cycle--bar", partial=True)
        peak = self.get_component_rich_style("cycle--peak", partial=True)
        for line in lines:
            out.append("\n")
            for x, ch in enumerate(line):
                out.append(ch, peak if x == peak_col else bar)
        n = 2 * (len(r.spectrum) - 1) if len(r.spectrum) > 1 else 0
        axis = ""
        if n:
            marks = [k for k in range(1, len(r.spectrum)) if k in (1, 2, 4, 8, 16, 32, 64)]
            chars = [" "] * min(self.size.width, len(r.spectrum))
            for k in marks:
                text = f"{n / k:.0f}"
                if k - 1 + len(text) <= len(chars):
                    chars[k - 1 : k - 1 + len(text)] = text
            axis = "".join(chars) + "  ← period (bars)"
        out.append("\n" + axis[: self.size.width], label + Style(dim=True))
        return out
