"""The server's settings: which hosts are local, tokens, TLS files (the server itself is run
for real in tests/workstation/cli/test_serve.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from workstation.web.server import (
    ServeError,
    WorkstationServer,
    is_loopback,
    new_token,
    tls_context,
)


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts(host: str, local: bool) -> None:
    assert is_loopback(host) is local


def test_tokens_are_fresh_and_long() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert min(len(t) for t in tokens) >= 40
    assert all(t.replace("-", "").replace("_", "").isalnum() for t in tokens)


def test_plain_http_without_a_certificate() -> None:
    assert tls_context(None, None) is None


def test_a_missing_certificate_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ServeError, match=r"cannot load the TLS certificate .*nope\.pem"):
        tls_context(str(tmp_path / "nope.pem"), None)


def test_urls_and_limits() -> None:
    server = WorkstationServer("true", host="::1", port=8123, token="t0k", announce=lambda _: None)
    assert server.url == "http://[::1]:8123/?token=t0k"
    assert server.cookie == "qws_token_8123"
    with pytest.raises(ServeError, match="at least 1"):
        WorkstationServer("true", host="127.0.0.1", port=1, token="t", max_sessions=0)
