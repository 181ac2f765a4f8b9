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


def test_a_scalar_where_a_list_is_expected_becomes_a_one_element_list(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[watchlist]\ndefault = "BTC/USDT"\n')
    s = Settings.load(path, environ={"QWS__TELEGRAM__CHAT_IDS": "424242"})
    assert s.get("telegram.chat_ids") == [424242]
    assert s.get("watchlist.default") == ["BTC/USDT"]
    s = Settings.load(path, environ={"QWS__TELEGRAM__CHAT_IDS": "[1, -1002]"})
    assert s.get("telegram.chat_ids") == [1, -1002]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"QWS__SIGNALS__QUALITY_GATE": "abc"},
            "QWS__SIGNALS__QUALITY_GATE: signals.quality_gate must be a number, not 'abc'",
        ),
        (
            {"QWS__SIGNALS__QUALITY_GATX": "0.8"},
            "QWS__SIGNALS__QUALITY_GATX: unknown setting signals.quality_gatx"
            " (did you mean signals.quality_gate?)",
        ),
        (
            {"QWS__TRADING__LIVE": "yes"},
            "QWS__TRADING__LIVE: trading.live must be true or false, not 'yes'",
        ),
        (
            {"QWS__TELEGRAM__CHAT_IDS": '["me"]'},
            "QWS__TELEGRAM__CHAT_IDS: telegram.chat_ids must be a list of integers, not ['me']",
        ),
        ({"QWS__NOPE__X": "1"}, "QWS__NOPE__X: unknown setting nope.x"),
        ({"QWS__SIGNALS": "1"}, "QWS__SIGNALS: signals must be a table, not 1"),
    ],
)
def test_a_bad_environment_setting_is_one_line_naming_the_variable(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as excinfo:
        Settings.load(tmp_path / "none.toml", environ=env)
    assert str(excinfo.value) == message


def test_a_bad_file_setting_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[risk]\nkelly_cap = "a lot"\n')
    with pytest.raises(ConfigError, match=f"^{path}: risk.kelly_cap must be a number"):
        Settings.load(path, environ={})
    path.write_text("[telegram.retry]\nmax_attempt = 3\n")
    with pytest.raises(ConfigError, match=r"unknown setting telegram\.retry\.max_attempt "):
        Settings.load(path, environ={})


def test_free_form_sections_and_plugin_params_are_allowed(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[keymap]\n"dashboard.buy" = "B"\n'
        '[trading.fx_pegs]\n"EUR/USD" = 1.08\n'
        "[brokers.paper.balances]\nEUR = 5000\n"
        '[brokers.ccxt]\nrate_limit_ms = 5\nurls = {public = "http://x"}\n'
        '[brokers.someplugin]\nregion = "eu"\n'
        '[feeds.kraken]\nws_url = "wss://k"\n'
        '[[strategies.run]]\nname = "sma_cross"\nsymbols = ["BTC/USDT"]\n'
        "params = {fast = 10}\n"
    )
    s = Settings.load(path, environ={"QWS__BROKERS__CCXT__RETRIES": "0"})
    assert s.get("keymap") == {"dashboard.buy": "B"}
    assert s.get("trading.fx_pegs")["EUR/USD"] == 1.08
    assert s.get("brokers.ccxt.rate_limit_ms") == 5 and s.get("brokers.ccxt.retries") == 0
    assert s.get("brokers.someplugin.region") == "eu"
    assert s.get("strategies.run")[0]["params"] == {"fast": 10}
    path.write_text('[brokers.ccxt]\nretries = "three"\n')  # a known plugin key is checked
    with pytest.raises(ConfigError, match=r"brokers\.ccxt\.retries must be an integer"):
        Settings.load(path, environ={})


def test_string_settings_take_the_environment_text_as_is(tmp_path: Path) -> None:
    env = {"QWS__BROKERS__MT5__SERVER": "12345", "QWS__APP__TIMEFRAME": "1h"}
    s = Settings.load(tmp_path / "none.toml", environ=env)
    assert s.get("brokers.mt5.server") == "12345" and s.get("app.timeframe") == "1h"
    assert (
        Settings.load(tmp_path / "none.toml", environ={"QWS__SIGNALS__EMA_N": "21"}).get(
            "signals.ema_n"
        )
        == 21
    )


def test_the_cli_answers_a_bad_setting_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from workstation.cli import main

    monkeypatch.setenv("QWS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("QWS__TELEGRAM__CHAT_IDS", "424242")
    monkeypatch.setenv("QWS__SIGNALS__QUALITY_GATX", "0.8")
    assert main(["telegram", "test"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "qws: error: QWS__SIGNALS__QUALITY_GATX: unknown setting signals.quality_gatx"
        " (did you mean signals.quality_gate?)"
    ]


def test_each_setting_says_where_its_value_came_from(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[signals]\nquality_gate = 0.8\n[feeds.binance]\nws_url = "ws://file"\n'
        "[brokers.paper.balances]\nEUR = 5\n"
    )
    env = {
        "QWS__FEEDS__BINANCE__WS_URL": "ws://127.0.0.1:9",
        "QWS__TRADING__FX_PEGS": '{"EUR/USD" = 1.25}',
    }
    s = Settings.load(path, environ=env)
    assert s.source("signals.quality_gate") == f"file {path}"
    assert s.source("feeds.binance.ws_url") == "env QWS__FEEDS__BINANCE__WS_URL"
    assert s.source("feeds.binance.rest_url") == "default"
    assert s.source("brokers.paper.balances.EUR") == f"file {path}"
    assert s.source("brokers.paper.balances.USD") == "default"
    assert s.source("trading.fx_pegs.EUR/USD") == "env QWS__TRADING__FX_PEGS"
    assert s.source("trading.fx_pegs.USDT/USD") == "default"
    changed = s.with_values({"trading.broker": "ccxt"})
    assert changed.source("trading.broker") == "command line"
    assert changed.source("signals.quality_gate") == f"file {path}"
    assert s.source("trading.broker") == "default"


def test_leaves_are_every_setting_by_its_dotted_key() -> None:
    from workstation.runtime.config import DEFAULTS, leaves

    flat = leaves(DEFAULTS)
    assert flat["signals.quality_gate"] == 0.75
    assert flat["keymap"] == {}  # an empty table is a value of its own
    assert flat["watchlist.default"][0] == "BTC/USDT"
    assert not any(isinstance(v, dict) and v for v in flat.values())
