"""The runtime records its effective settings in the audit log when it starts: the first time
in full, then once per change."""

from __future__ import annotations

import json

from feeds.replay import ReplayFeed
from tests.helpers import random_bars
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.trader.runtime import Runtime
from workstation.trading.audit_report import CONFIG_ACTIONS


async def start_and_stop(store: Store, settings: Settings) -> None:
    bars = random_bars(5)
    feed = ReplayFeed(frame=bars, symbol="TEST", timeframe="1h", speed=0, warmup=5)
    rt = Runtime(feed, store, settings, ["TEST"], "1h", signals=False, telegram=False)
    try:
        await rt.start()
        assert rt.oms is not None, rt.broker_error
    finally:
        await rt.shutdown()


async def test_each_start_records_what_changed_in_the_settings(store: Store) -> None:
    settings = Settings.load(environ={})
    await start_and_stop(store, settings)
    await start_and_stop(store, settings)
    await start_and_stop(store, settings.with_values({"risk.max_order_notional": 5_000.0}))
    rows = store.audit.between(0, actions=CONFIG_ACTIONS)
    assert [(r["actor"], r["action"]) for r in rows] == [
        ("runtime", "config.snapshot"),
        ("runtime", "config.changed"),
    ]
    detail = json.loads(rows[1]["detail"])
    assert detail["changed"] == {"risk.max_order_notional": [100_000.0, 5_000.0]}
    assert detail["sources"] == {"risk.max_order_notional": "command line"}
