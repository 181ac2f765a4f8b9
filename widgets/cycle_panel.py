"""The cycle panel: the QPE phase spectrum as bars, the dominant cycle and where we are in it.

Its screen hands it a :class:`CycleResult` (``set_result``); until the detector has run (or
while it runs) it says so (``set_status``) instead of drawing anything, or shows how far the
engine's start got (``set_progress``: the stage and the seconds since the first stage, ticking).
numpy is imported only to draw a spectrum: the first frame shows the panel without it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.timer import Timer
from textual.widget import Widget

from engine.model import Cycle, CyclePhase

if TYPE_CHECKING:
    import numpy as np

_BLOCKS = " ▁▂▃▄▅▆▇█"


def bin_width(bins: int, width: int) -> int:
    """Columns per spectrum bin so the bars fill the panel (at least one)."""
    return max(1, width // max(1, bins))


def spectrum_rows(power: np.ndarray, rows: int, width: int) -> list[str]:
    """Vertical bars of ``power`` (bins 1.. left to right, DC dropped), ``rows`` high, each
    bin ``bin_width`` columns wide."""
    import numpy as np

    values = np.asarray(power, dtype=np.float64)[1:]
    if rows <= 0 or values.size == 0 or width <= 0:
        return []
    w = bin_width(values.size, width)
    values = values[: max(1, width // w)]
    peak = float(values.max()) or 1.0
    eighths = np.round(values / peak * rows * 8).astype(np.int64)
    lines = []
    for r in range(rows):
        cells = np.clip(eighths - (rows - 1 - r) * 8, 0, 8)
        lines.append("".join((_BLOCKS[f] * (w - 1) + " ") if w > 2 else _BLOCKS[f] * w
                             for f in cells))  # fmt: skip
    return lines


@dataclass(frozen=True, slots=True, eq=False)  # eq=False: an array has no single truth value
class CycleResult:
    """One QPE run for one symbol/timeframe, as the panel draws it: the phase-register
    distribution (``spectrum``, index = phase bin k), the dominant cycles (strongest first), the
    current phase of the strongest, and how it ran."""

    symbol: str
    timeframe: str
    spectrum: np.ndarray
    cycles: tuple[Cycle, ...] = ()
    phase: CyclePhase | None = None
    elapsed_ms: float = 0.0
    backend: str = ""


class CyclePanel(Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"cycle--bar", "cycle--peak", "cycle--label"}
    DEFAULT_CSS = """
    CyclePanel { height: 1fr; }
    CyclePanel > .cycle--bar { color: $primary; }
    CyclePanel > .cycle--peak { color: $accent; text-style: bold; }
    CyclePanel > .cycle--label { color: $text-muted; }
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, **kwargs: object) -> None:
        """``clock``: seconds, for the time shown beside a progress stage."""
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.clock = clock
        self.result: CycleResult | None = None
        self.status = "QPE cycle detector: waiting for bars"
        self.stage = ""
        """What the engine is doing while its first result is awaited (``set_progress``)."""
        self._since: float | None = None
        self._ticker: Timer | None = None

    def on_mount(self) -> None:
        self._ticker = self.set_interval(1.0, self.refresh, name="cycle progress", pause=True)
        if self.stage:
            self._ticker.resume()

    def set_status(self, text: str) -> None:
        self.status = text
        self._end_progress()
        self.refresh()

    def set_progress(self, stage: str) -> None:
        """Show ``stage`` and the seconds since the first stage of this wait (until a result or
        a status ends it), counting each second."""
        if self._since is None:
            self._since = self.clock()
        self.stage = stage
        if self._ticker is not None:
            self._ticker.resume()
        self.refresh()

    def set_result(self, result: CycleResult) -> None:
        self.result = result
        self.status = ""
        self._end_progress()
        self.refresh()

    def _end_progress(self) -> None:
        self.stage = ""
        self._since = None
        if self._ticker is not None:
            self._ticker.pause()

    def progress(self) -> str:
        """The stage and its elapsed whole seconds, or "" when there is none."""
        if not self.stage or self._since is None:
            return ""
        return f"{self.stage}… {max(0.0, self.clock() - self._since):.0f} s"

    def summary(self) -> str:
        r = self.result
        if r is None:
            return self.progress() or self.status
        parts = [f"{r.symbol} {r.timeframe}"] if self.size.width >= 90 else []
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
        w = bin_width(len(r.spectrum) - 1, self.size.width)
        peak_k = r.cycles[0].k if r.cycles else -1
        bar = self.get_component_rich_style("cycle--bar", partial=True)
        peak = self.get_component_rich_style("cycle--peak", partial=True)
        for line in lines:
            out.append("\n")
            for k in range(1, len(line) // w + 1):
                out.append(line[(k - 1) * w : k * w], peak if k == peak_k else bar)
        n = 2 * (len(r.spectrum) - 1) if len(r.spectrum) > 1 else 0
        chars = [" "] * self.size.width
        free = 0
        for k in (k for k in range(1, len(r.spectrum)) if n % k == 0):
            text = f"{n // k}"
            x = (k - 1) * w
            if x >= free and x + len(text) <= len(chars):
                chars[x : x + len(text)] = text
                free = x + len(text) + 1
        axis = ("".join(chars).rstrip() + "  ← period in bars") if n else ""
        out.append("\n" + axis[: self.size.width], label + Style(dim=True))
        return out
