"""The settings screen: plain settings into the store, secrets into the keyring only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual.widgets import Input, Static

from tests.keyrings import MemoryKeyring, memory_keyring
from tests.workstation.ui.ui_helpers import make_app, wait_for
from workstation.store import Store
from workstation.ui.screens.settings import SettingsScreen

SECRET = "sk-test-9f8e7d6c5b4a"


@pytest.fixture
def ring() -> Iterator[MemoryKeyring]:
    with memory_keyring() as backend:
        yield backend


async def test_a_key_goes_to_the_keyring_and_is_only_shown_as_set(
    store: Store, ring: MemoryKeyring
) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("f2")
        await wait_for(lambda: isinstance(app.screen, SettingsScreen))
        screen = app.screen
        state = screen.query_one("#binance-api_key-state", Static)
        assert "not set" in str(state.render())
        box = screen.query_one("#binance-api_key", Input)
        assert box.password
        box.value = SECRET
        screen.query_one("#set-signals-quality-gate", Input).value = "0.8"
        await pilot.press("ctrl+s")
        await wait_for(lambda: "set" in str(state.render()) and "not" not in str(state.render()))
        assert box.value == ""
        assert ring.data[("qws:binance", "api_key")] == SECRET
        assert store.settings.get("signals.quality_gate") == 0.8
        assert app.preferences.get("signals.quality_gate") == 0.8
        message = str(screen.query_one("#settings-msg", Static).render())
        assert "Binance API key (keyring)" in message and SECRET not in message
    store.close()
    assert SECRET.encode() not in store.path.read_bytes()
    for suffix in ("-wal", "-shm"):
        side = store.path.with_name(store.path.name + suffix)
        assert not side.exists() or SECRET.encode() not in side.read_bytes()


async def test_bad_values_and_a_missing_keyring_are_reported(store: Store) -> None:
    app = make_app(store)  # the null keyring of the test environment: nothing can be stored
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("f2")
        await wait_for(lambda: isinstance(app.screen, SettingsScreen))
        screen = app.screen
        screen.query_one("#set-risk-daily-loss-limit", Input).value = "lots"
        screen.query_one("#telegram-token", Input).value = SECRET
        await pilot.press("ctrl+s")
        message = str(screen.query_one("#settings-msg", Static).render())
        assert "Daily loss limit" in message and "QWS_TELEGRAM_TOKEN" in message
        assert SECRET not in message
        assert store.settings.get("risk.daily_loss_limit") is None
        await pilot.press("escape")
        await wait_for(lambda: not isinstance(app.screen, SettingsScreen))
