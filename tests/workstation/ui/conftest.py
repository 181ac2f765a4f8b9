"""Snapshot comparisons that say what differs: on a mismatch, the screen's text lines that
changed are printed next to the assertion (CI keeps the output, not the HTML report)."""

from __future__ import annotations

import difflib
import html
import pickle
import re
from collections.abc import Callable
from typing import Any

import pytest
from pytest_textual_snapshot import node_to_report_path

_TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>')


def screen_lines(svg: str) -> list[str]:
    """The text of a Textual SVG screenshot, one string a screen row."""
    rows: dict[float, list[tuple[float, str]]] = {}
    for x, y, text in _TEXT.findall(svg):
        rows.setdefault(float(y), []).append((float(x), html.unescape(text)))
    return ["".join(t for _, t in sorted(cells)).rstrip() for _, cells in sorted(rows.items())]


@pytest.fixture
def snap_compare(snap_compare: Callable[..., bool], request: pytest.FixtureRequest) -> Any:
    def compare(*args: Any, **kwargs: Any) -> bool:
        same = snap_compare(*args, **kwargs)
        if not same:
            data = pickle.loads(node_to_report_path(request.node).read_bytes())
            expected, actual = str(data[1]), str(data[2])
            diff = list(
                difflib.unified_diff(
                    screen_lines(expected), screen_lines(actual), "snapshot", "now", lineterm=""
                )
            )
            print("\n".join(diff) or "the same text: only styles (colours, attributes) differ")
        return same

    return compare
