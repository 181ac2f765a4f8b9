"""``qws bridge mt5`` wiring (token, listen address, MT5 account) and the feed factory's use of
the bridge and exchange feeds, with the fake MetaTrader5 module and real loopback sockets."""

from __future__ import annotations

import pytest

from feeds.exchanges.binance import BinanceFeed
from feeds.mt5.bridge_client import BridgeFeed
from tests.feeds.mt5.test_terminal import NS, T0, market
from workstation.cli import build_parser, main
from workstation.cli.bridge import make_server
from workstation.runtime.config import Settings
from workstation.runtime.feed_factory import FeedError, make_feed


def test_bridge_without_a_token_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bridge", "mt5", "--listen", "127.0.0.1:0"]) == 2
    err = capsys.readouterr().err
    assert "needs a token" in err and "QWS_BRIDGE_TOKEN" in err


def test_bad_listen_address(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QWS_BRIDGE_TOKEN", "tok")
    assert main(["bridge", "mt5", "--listen", "8765"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err


async def test_bridge_server_from_cli_args_serves_the_factory_built_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = market(monkeypatch)
    monkeypatch.setenv("QWS_BRIDGE_TOKEN", "shared-token")
    monkeypatch.setenv("QWS_MT5_PASSWORD", "s3cret")
    monkeypatch.setenv("QWS__BROKERS__MT5__LOGIN", "5001")
    monkeypatch.setenv("QWS__BROKERS__MT5__SERVER", "Demo-Server")
    args = build_parser().parse_args(["bridge", "mt5", "--listen", "127.0.0.1:0"])
    server = make_server(args)
    await server.start()
    assert terminal.called[0] == "initialize" and server.symbols() == ["EURUSD", "XAUUSD"]
    feed = make_feed("bridge", Settings.load(), url=server.url, symbols=["EURUSD"])
    assert isinstance(feed, BridgeFeed) and feed.ws_url == server.url
    frame = await feed.history("EURUSD", "1m", start=(T0 + 300) * NS)
    assert frame["ts"][0] == (T0 + 300) * NS and frame.height > 0
    await feed.close()
    await server.close()
    await server.feed.close()


def test_factory_builds_exchange_feeds_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QWS__FEEDS__BINANCE__WS_URL", "ws://127.0.0.1:9/ws")
    feed = make_feed("binance", Settings.load(), symbols=["BTC/USDT", "ETH/USDT"])
    assert isinstance(feed, BinanceFeed)
    assert feed.ws_url == "ws://127.0.0.1:9/ws" and feed.symbols() == ["BTC/USDT", "ETH/USDT"]
    assert feed.rest_url == "https://api.binance.com"


def test_factory_reports_a_missing_bridge_token() -> None:
    with pytest.raises(FeedError, match="needs its token"):
        make_feed("bridge", Settings.load(), url="ws://127.0.0.1:9")
