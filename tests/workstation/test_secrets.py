from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend

from workstation.secrets import SecretMissing, env_name, get_secret


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_keyring_first_then_environment(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QWS_BINANCE_API_KEY", "from-env")
    assert get_secret("binance", "api_key") == "from-env"
    keyring.set_password("qws:binance", "api_key", "from-keyring")
    assert get_secret("binance", "api_key") == "from-keyring"


def test_missing_secret_says_where_to_put_it_without_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert env_name("my-exchange", "api key") == "QWS_MY_EXCHANGE_API_KEY"
    assert get_secret("nowhere", "secret") is None
    with pytest.raises(SecretMissing, match="QWS_NOWHERE_SECRET") as err:
        get_secret("nowhere", "secret", required=True)
    assert "keyring set qws:nowhere secret" in str(err.value)
