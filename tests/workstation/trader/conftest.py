"""Fixtures of the runtime's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.workstation.trader.telegram_desk import Running, running_desk
from workstation.store import Store


@pytest.fixture
async def running(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> AsyncIterator[Running]:
    """A runtime on the demo feed with its Telegram bot (:mod:`telegram_desk`); parametrize it
    indirectly with extra settings, e.g. ``TRADING``."""
    async for desk in running_desk(store, tmp_path, monkeypatch, getattr(request, "param", {})):
        yield desk
