from __future__ import annotations

from pathlib import Path

import pytest

from workstation.runtime.config import ConfigError, Settings


def test_defaults_need_no_file(tmp_path: Path) -> None:
    s = Settings.load(tmp_path / "missing.toml", environ={})
    assert s.get("app.feed") == "demo"
    assert s.get("trading.live") is False
    assert s.get("feeds.binance.ws_url").startswith("wss://")


def test_file_then_env_override(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[signals]\nquality_gate = 0.8\n[feeds.binance]\nws_url = "ws://file"\n')
    env = {"QWS__FEEDS__BINANCE__WS_URL": "ws://127.0.0.1:9", "QWS__TRADING__LIVE": "true"}
    s = Settings.load(path, environ=env)
    assert s.get("signals.quality_gate") == 0.8
    assert s.get("feeds.binance.ws_url") == "ws://127.0.0.1:9"
    assert s.get("trading.live") is True
    assert s.get("feeds.binance.rest_url") == "https://api.binance.com"


def test_broken_toml_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[signals\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.load(path, environ={})
