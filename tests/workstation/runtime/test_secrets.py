"""workstation/runtime/secrets.py: keyring first, environment fallback, and redaction in logs."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from aiohttp import web

from tests.keyrings import memory_keyring
from tests.plugins.fake_binance import FakeBinance
from workstation.cli import main
from workstation.runtime.secrets import (
    SecretsError,
    delete_secret,
    get_secret,
    redact,
    secret_source,
    set_secret,
)
from workstation.store import Store

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


def test_redaction_ignores_case_and_catches_url_and_json_encodings(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "777777:MiXeD/case+Token=abcdef"
    monkeypatch.setenv("QWS_EXAMPLE_TOKEN", secret)
    assert get_secret("example", "token") == secret
    variants = [
        secret.lower(),
        secret.upper(),
        secret.capitalize(),  # what python-telegram-bot does to an error description
        quote(secret, safe=""),
        quote(secret, safe="").lower(),
        quote_plus(secret),
        quote(secret),
    ]
    for variant in variants:
        assert redact(f"<{variant}>") == "<***>", variant
    caplog.set_level(logging.INFO)
    logging.getLogger("gateway").warning("echo: %s", " ".join(variants))
    assert caplog.records[-1].getMessage() == "echo: " + " ".join(["***"] * len(variants))


KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
"""A Binance-shaped API key (mixed case, as real ones are)."""


class EchoingGateway(FakeBinance):
    """Binance behind a gateway that answers an order with an error quoting the request's
    API-key header as sent, and again as its logs normalise it (lower and upper case)."""

    async def create_order(self, request: web.Request) -> web.Response:
        await self._params(request, signed=True)
        header = f"X-MBX-APIKEY: {request.headers['X-MBX-APIKEY']}"
        return self._error(
            400,
            -1100,
            f"Illegal characters found in a parameter. Request: {header};"
            f" normalised: {header.lower()} / {header.upper()}",
        )


@pytest.fixture
def gateway() -> Iterator[EchoingGateway]:
    """The gateway on its own event-loop thread (the CLI runs its own loop)."""
    server = EchoingGateway(api_key=KEY)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server.base_url = asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)  # type: ignore[attr-defined]
    yield server
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_an_api_key_echoed_by_the_venue_reaches_no_store_log_or_output(
    gateway: EchoingGateway,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = gateway.base_url  # type: ignore[attr-defined]
    for name, value in {
        "QWS__TRADING__BROKER": "ccxt",
        "QWS__TRADING__LIVE": "true",
        "QWS__TRADING__CONFIRM_LIVE": "false",
        "QWS__BROKERS__CCXT__URLS": f'{{public = "{base}", private = "{base}"}}',
        "QWS__BROKERS__CCXT__RETRIES": "0",
        "QWS__TELEGRAM__CHAT_IDS": "[42]",
        "QWS_BINANCE_API_KEY": KEY,
        "QWS_BINANCE_SECRET": "gateway-test-secret",
        "QWS_CONFIG": str(tmp_path / "none.toml"),
    }.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "q.db"
    rc = main(["--db", str(db), "order", "buy", "0.01", "BTC/USDT", "--yes"])
    out = capsys.readouterr()
    assert rc == 1 and "REJECTED" in out.out and "Illegal characters" in out.out
    assert gateway.count("POST", "/api/v3/order") == 1  # the key really went out
    with Store(db) as store:
        [order] = store.orders.find()
        audit = store.audit.recent(1_000)
        alerts = store.alerts.find(limit=1_000)
    assert order.reason and "Illegal characters" in order.reason
    assert [a["kind"] for a in alerts] == ["rejection"]
    texts = [order.reason, *map(str, audit + alerts), out.out, out.err, caplog.text]
    texts += [r.getMessage() for r in caplog.records]
    texts += [p.read_bytes().decode("utf-8", "replace") for p in tmp_path.glob("q.db*")]
    for text in texts:
        assert KEY.lower() not in text.lower()
