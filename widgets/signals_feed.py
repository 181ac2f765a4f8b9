"""The signals feed: newest at the bottom (the cursor follows it), bounded; each row says
action, confidence and why. Prices show at their symbol's precision (its tick's decimals).

A learnt confidence shows with its evidence: ``58% ±4`` (the Wilson 95 % interval of the
comparable past cases' hit rate, half its width) and ``412 · 57%`` (those cases, scored out of
sample, and how often they were right). A confidence the ensemble's rules made, with no learnt
model behind it, shows as ``58% rule``. :class:`BestSetups` sums up the newest signal of each
symbol against the quality gate: what passes it now, or, when nothing does, the best current
setups with their honest probability (a market with no edge says so instead of staying blank).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from engine.model import Action, Signal
from widgets.prices import price_text

MAX_ROWS = 200
_ACTION_STYLE = {
    Action.OPEN_LONG: "green",
    Action.OPEN_SHORT: "red",
    Action.CLOSE: "yellow",
    Action.WAIT: "dim",
}


class SignalsFeed(DataTable[Text | str]):
    DEFAULT_CSS = "SignalsFeed { height: 1fr; }"

    def __init__(self, decimals: Mapping[str, int] | None = None, **kwargs: object) -> None:
        """``decimals``: price decimals per symbol, read at each row (a mapping its owner
        updates as it learns a venue's precision is seen here too)."""
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.decimals: Mapping[str, int] = {} if decimals is None else decimals
        self.count = 0

    def on_mount(self) -> None:
        for label, width in (("Time", 8), ("Symbol", 9), ("TF", 3), ("Action", 10),
                             ("Conf", 8), ("Cases", 11), ("Price", 11),
                             ("Why", 40)):  # fmt: skip
            self.add_column(label, width=width)

    def add_signal(self, signal: Signal) -> None:
        self.count += 1
        stamp = time.strftime("%H:%M:%S", time.gmtime(signal.ts_ns / 1e9))
        self.add_row(
            stamp,
            signal.symbol,
            signal.timeframe,
            Text(signal.action.value, style=_ACTION_STYLE[signal.action]),
            Text(confidence_text(signal), justify="right"),
            Text(cases_text(signal), justify="right"),
            Text(price_text(signal.price, self.decimals.get(signal.symbol)), justify="right"),
            "; ".join(signal.reasons),
            key=f"sig{self.count}",
        )
        while self.row_count > MAX_ROWS:
            self.remove_row(self.ordered_rows[0].key)
        self.move_cursor(row=self.row_count - 1)


def confidence_text(signal: Signal) -> str:
    """``58% ±4`` for a learnt confidence, ``58% rule`` for a rule-made one."""
    ev = signal.evidence
    if ev is None:
        return f"{signal.confidence:.0%} rule"
    return f"{ev.probability:.0%} ±{ev.plus_minus}" if ev.cases else f"{ev.probability:.0%}"


def cases_text(signal: Signal) -> str:
    """``412 · 57%``: the comparable past cases and their out-of-sample hit rate."""
    ev = signal.evidence
    if ev is None:
        return "-"
    return f"{ev.cases:,} · {ev.hit_rate:.0%}" if ev.cases else "0"


class BestSetups(Static):
    """One or two lines over the feed: the newest signal per symbol against the gate."""

    DEFAULT_CSS = "BestSetups { height: auto; max-height: 2; color: $text-muted; }"
    gate: reactive[float] = reactive(0.75)
    shown = 3

    def __init__(self, gate: float = 0.75, **kwargs: object) -> None:
        super().__init__("no signal yet", **kwargs)  # type: ignore[arg-type]
        self._latest: dict[str, Signal] = {}
        self.set_reactive(BestSetups.gate, gate)

    def add_signal(self, signal: Signal) -> None:
        old = self._latest.get(signal.symbol)
        if old is None or signal.ts_ns >= old.ts_ns:
            self._latest[signal.symbol] = signal
            self.update(self.summary())

    def watch_gate(self) -> None:
        self.update(self.summary())

    def summary(self) -> str:
        if not self._latest:
            return "no signal yet"
        ranked = sorted(self._latest.values(), key=lambda s: (-s.confidence, s.symbol))
        passing = [s for s in ranked if s.confidence >= self.gate]
        if passing:
            head = f"At or above the {self.gate:.0%} gate now ({len(passing)}): "
            return head + " · ".join(_setup(s) for s in passing[: self.shown])
        learnt = any(s.evidence is not None for s in ranked)
        why = "no learnt edge this strong on these markets now" if learnt else "nothing passes"
        return f"No setup reaches the {self.gate:.0%} gate ({why}). Best now: " + " · ".join(
            _setup(s) for s in ranked[: self.shown]
        )


def _setup(signal: Signal) -> str:
    ev = signal.evidence
    if ev is None:
        return f"{signal.symbol} {signal.action.value} {signal.confidence:.0%} (rule)"
    side = "up" if ev.direction > 0 else "down"
    cases = f", {ev.cases:,} cases" if ev.cases else ""
    return f"{signal.symbol} {side} {confidence_text(signal)}{cases}"
