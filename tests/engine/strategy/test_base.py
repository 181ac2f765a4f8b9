"""engine/strategy/base.py: the Strategy base class."""

from __future__ import annotations

from engine.strategy import (
    INTERFACE_VERSION,
    Strategy,
)


def test_hooks_accept_extra_keyword_arguments_and_version_is_declared() -> None:
    s = Strategy()
    assert s.on_bar(None, None, future_arg=1) is None  # type: ignore[arg-type]
    s.on_start(None, extra=True)  # type: ignore[arg-type]
    s.on_fill(None, None, extra=True)  # type: ignore[arg-type]
    assert isinstance(INTERFACE_VERSION, int) and Strategy.interface_version == INTERFACE_VERSION
