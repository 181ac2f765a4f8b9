"""The workstation runs the Telegram relay in-process: fills and rejections from the screen's
order manager reach the chat, deliveries show in the log pane, and a confirmed /kill from the
chat cancels the desk's working orders."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from engine.model import Action, OrderStatus, OrderType, Side, Signal
from feeds.demo import DemoFeed
from tests.telegram_api import FakeBotApi, parse_telegram_html
from tests.workstation.ui.ui_helpers import frozen_clock, wait_for
from widgets.log_pane import LogPane
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.ui.app import QwsApp

TOKEN = "777001:APP-test-token-abcdefghijklmnop"
CHAT = 4242001


def app_with_telegram(store: Store, api: FakeBotApi, tmp_path: Path) -> QwsApp:
    env = {
        "QWS__TELEGRAM__API_URL": api.url,
        "QWS__TELEGRAM__CHAT_IDS": f"[{CHAT}]",
        "QWS__TELEGRAM__POLL_TIMEOUT_S": "1",
        "QWS__TELEGRAM__TIMEOUT_S": "3",
        "QWS__TELEGRAM__DEDUP_WINDOW_S": "0",
    }
    feed = DemoFeed(tick_interval_s=0.1, history_bars=300, clock=frozen_clock)
    settings = Settings.load(tmp_path / "none.toml", environ=env)
    return QwsApp(feed, store, settings, clock=frozen_clock, show_clock=False)


def texts(api: FakeBotApi) -> list[str]:
    return [parse_telegram_html(s.text)[0] for s in api.sent_to(CHAT)]


async def test_fills_rejections_and_kill_travel_between_screen_and_chat(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QWS_TELEGRAM_TOKEN", TOKEN)
    with FakeBotApi(TOKEN, [CHAT]) as api:
        app = app_with_telegram(store, api, tmp_path)
        async with app.run_test(size=(120, 40)):
            runtime = app.runtime
            await wait_for(lambda: runtime.oms is not None and runtime.telegram is not None)
            broker = runtime.broker
            await wait_for(lambda: broker.quote("BTC/USDT") is not None)  # type: ignore[attr-defined]
            oms = runtime.oms
            assert oms is not None
            filled = await oms.submit(oms.build("BTC/USDT", Side.BUY, "0.01"))
            assert filled.status is OrderStatus.FILLED
            await wait_for(lambda: any("BTC/USDT" in t and "0.01" in t for t in texts(api)))
            refused = await oms.submit(oms.build("BTC/USDT", Side.BUY, "0.000011"))
            assert refused.status is OrderStatus.REJECTED
            await wait_for(lambda: any("lot size" in t for t in texts(api)))
            pane = app.dashboard.query_one(LogPane)
            log = [text for _, text in pane.entries]
            assert any(t.startswith("fill buy 0.01 BTC/USDT") for t in log)
            assert any(t.startswith("rejected BTC/USDT") for t in log)
            await wait_for(lambda: any(" sent" in text for _, text in pane.entries))

            strong = Signal(
                frozen_clock(),
                "ETH/USDT",
                "1h",
                Action.OPEN_LONG,
                0.91,
                3200.0,
                ("cycle trough due",),
            )
            weak = Signal(frozen_clock(), "SOL/USDT", "1h", Action.OPEN_SHORT, 0.55, 150.0)
            runtime.record_signal(strong)
            runtime.record_signal(weak)
            await wait_for(
                lambda: any("ETH/USDT" in t and "cycle trough due" in t for t in texts(api))
            )
            relayed = dict(store.conn.execute("SELECT symbol, relayed FROM signals").fetchall())
            assert relayed == {"ETH/USDT": 1, "SOL/USDT": 0}
            assert not any("SOL/USDT" in t for t in texts(api))

            resting = await oms.submit(
                oms.build("BTC/USDT", Side.BUY, "0.01", OrderType.LIMIT, price=Decimal("1000"))
            )
            assert resting.status is OrderStatus.OPEN
            before = len(api.sent_to(CHAT))
            api.push_message(CHAT, "/kill")
            await wait_for(lambda: len(api.sent_to(CHAT)) > before)
            ask = api.sent_to(CHAT)[-1]
            data = next(
                b["callback_data"]
                for row in ask.reply_markup["inline_keyboard"]  # type: ignore[index]
                for b in row
                if b["callback_data"].startswith("ok")
            )
            api.push_callback(CHAT, data, ask.message_id)
            await wait_for(lambda: oms.kill_switch)
            await wait_for(
                lambda: store.orders.get(resting.client_id).status is OrderStatus.CANCELLED  # type: ignore[union-attr]
            )
