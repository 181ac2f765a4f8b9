"""workstation/runtime/secrets.py: keyring first, environment fallback, and redaction in logs."""

from __future__ import annotations

import logging

import pytest

from tests.keyrings import memory_keyring
from workstation.runtime.secrets import (
    SecretsError,
    delete_secret,
    get_secret,
    redact,
    secret_source,
    set_secret,
)

TOKEN = "555555:SECRETS-test-token-abcdefghij"


def test_keyring_first_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        get_secret("telegram", "token") is None and secret_source("telegram", "token") == "missing"
    )
    monkeypatch.setenv("QWS_TELEGRAM_TOKEN", "111:from-env-xxxxxxxx")
    assert get_secret("telegram", "token") == "111:from-env-xxxxxxxx"
    assert secret_source("telegram", "token") == "environment"
    with memory_keyring() as ring:
        set_secret("telegram", "token", f"  {TOKEN}\n")
        assert ring.data[("qws:telegram", "token")] == TOKEN
        assert (
            get_secret("telegram", "token") == TOKEN
            and secret_source("telegram", "token") == "keyring"
        )
        assert delete_secret("telegram", "token")
        assert get_secret("telegram", "token") == "111:from-env-xxxxxxxx"
    monkeypatch.setenv("QWS_BINANCE_API_KEY", "binance-key-123456")
    assert get_secret("binance", "api_key") == "binance-key-123456"
    assert redact("key=binance-key-123456") == "key=***"  # every secret read is masked


def test_no_keyring_is_a_clear_error() -> None:
    with pytest.raises(SecretsError, match="QWS_TELEGRAM_TOKEN"):
        set_secret("telegram", "token", TOKEN)
    with pytest.raises(SecretsError, match="empty"):
        set_secret("telegram", "token", "   ")


def test_known_secrets_are_masked_in_every_log_record(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("QWS_TELEGRAM_TOKEN", TOKEN)
    assert get_secret("telegram", "token") == TOKEN
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("some.library")
    log.debug("POST https://api.telegram.org/bot%s/getMe", TOKEN)
    log.info(f"token in the message itself: {TOKEN}")
    try:
        raise RuntimeError(f"The token `{TOKEN}` was rejected by the server.")
    except RuntimeError:
        log.exception("failed")
    assert TOKEN not in caplog.text
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    assert caplog.text.count("***") == 3
    assert redact(f"x{TOKEN}y") == "x***y"
