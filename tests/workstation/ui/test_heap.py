"""The heap is settled (frozen out of the collector's full passes) once per moment per process."""

from __future__ import annotations

import gc

from workstation.ui.screens import heap


def test_each_moment_settles_once_and_a_new_moment_takes_what_was_made_since() -> None:
    heap.settle("test: first")
    frozen = gc.get_freeze_count()
    made = [[] for _ in range(1_000)]
    heap.settle("test: first")
    assert gc.get_freeze_count() == frozen
    heap.settle("test: second")
    assert gc.get_freeze_count() >= frozen + len(made)
