"""Shared fixtures: every test gets its own config/data dirs, so nothing touches the user's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from workstation.store import Store


@pytest.fixture(autouse=True)
def _isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    for name in ("QWS_DB", "QWS_CONFIG", "QWS_TELEGRAM_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    # apps run the engine on its thread here (a worker process's start-up per app would cost
    # seconds each); tests/workstation/ui/test_app_engine_process.py runs it as users do
    monkeypatch.setenv("QWS_ENGINE", "thread")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "qws.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(db_path)
    yield s
    s.close()
