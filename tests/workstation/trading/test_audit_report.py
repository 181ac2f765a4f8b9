"""The audit report over a real store: each row's category and summary, the filters, and the
config changes :func:`record_config` writes into the log."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.model import Order, OrderType, Side
from workstation.alerts.daily_summary import LAST_SUMMARY_KEY
from workstation.runtime.config import Settings
from workstation.runtime.secrets import protect
from workstation.store import Store
from workstation.trading.audit_report import (
    BOOKKEEPING_SETTINGS,
    CONFIG_CHANGED,
    CONFIG_SNAPSHOT,
    audit_report,
    config_snapshot,
    record_config,
)

INTENT = {
    "symbol": "BTC/USDT", "side": "buy", "type": "market", "qty": "0.5", "price": None,
    "stop": None, "tif": "GTC", "sl": None, "tp": None,
}  # fmt: skip


@pytest.mark.parametrize(
    ("action", "subject", "detail", "category", "summary"),
    [
        ("order.intent", "c1", INTENT, "intent", "BUY 0.5 BTC/USDT market"),
        (
            "order.intent", "c1",
            {**INTENT, "type": "limit", "price": "60000", "sl": "59000", "strategy": "sma"},
            "intent", "BUY 0.5 BTC/USDT limit @ 60000 sl 59000 (strategy sma)",
        ),
        ("order.status", "c1", {"from": "NEW", "to": "SUBMITTING"}, "order", "NEW -> SUBMITTING"),
        (
            "order.status", "c1",
            {"from": "SUBMITTING", "to": "FILLED", "filled_qty": "0.5", "avg_price": "64000.01"},
            "order", "SUBMITTING -> FILLED, filled 0.5 @ 64000.01",
        ),
        (
            "order.status", "c1",
            {"from": "NEW", "to": "REJECTED", "reason": "daily loss limit reached: -5,100.00"},
            "refusal", "refused: daily loss limit reached: -5,100.00",
        ),
        (
            "order.status", "c1",
            {"from": "SUBMITTING", "to": "REJECTED", "reason": "insufficient balance"},
            "refusal", "refused by the venue: insufficient balance",
        ),
        ("trade_unavailable", "buy", {}, "refusal",
         "refused: buy unavailable (no order manager connected)"),
        ("kill_switch", "on", {"reason": "cli"}, "decision", "kill switch on (cli)"),
        ("trade_confirmed", "buy", {"args": ["BTC", "0.1"]}, "decision", "confirmed buy BTC 0.1"),
        ("buy_cancelled", "", {}, "decision", "buy not confirmed (cancelled)"),
        ("setting", "trading.paused", {"value": True}, "decision", "trading.paused = true"),
        ("setting", "app.theme", {"value": "nord"}, "config", 'app.theme = "nord"'),
        ("setting", LAST_SUMMARY_KEY, {"value": "2024-05-01"}, "other",
         f'{LAST_SUMMARY_KEY} = "2024-05-01"'),
        ("trade_requested", "order", {"text": "/buy btc 0.1"}, "intent",
         "asked order: /buy btc 0.1"),
        ("order.cancel_requested", "c1", {}, "order", "cancel requested"),
        ("bracket.amended", "c1", {"sl": "1", "tp": None}, "order", "sl=1, tp=null"),
        ("algo.start", "p1", {"algo": "twap"}, "order", "algo=twap"),
        ("algo.cancelled", "p1", {}, "order", ""),
        ("fill", "c1", {"qty": "0.5", "price": "64000", "fee": "16"}, "order",
         "filled 0.5 @ 64000, fee 16"),
        ("reconciled", "paper", {"discrepancies": 2}, "order",
         "reconciled with paper: 2 discrepancies"),
        ("config.changed", "", {"changed": {"risk.kill_flattens": [False, True]}}, "config",
         "risk.kill_flattens: false -> true"),
        ("claimed", "brackets.keeper.paper", {"holder": "1"}, "other", "holder=1"),
        ("import", "BTC/USDT", {"rows": 3}, "other", "rows=3"),
    ],
)  # fmt: skip
def test_each_action_gets_its_category_and_a_readable_summary(
    store: Store, action: str, subject: str, detail: dict[str, Any], category: str, summary: str
) -> None:
    store.audit.add("user", action, subject, detail)
    [entry] = audit_report(store, 0)
    assert (entry.category, entry.summary) == (category, summary)
    assert json.loads(entry.detail) == detail and entry.action == action


def test_the_bookkeeping_setting_is_the_daily_summarys_own() -> None:
    assert LAST_SUMMARY_KEY in BOOKKEEPING_SETTINGS


def test_a_config_change_names_the_first_keys_and_counts_the_rest(store: Store) -> None:
    changed = {f"k{i}": [i, i + 1] for i in range(5)} | {"new.key": [None, "x"]}
    store.audit.add("runtime", CONFIG_CHANGED, "", {"changed": changed})
    [entry] = audit_report(store, 0)
    assert entry.summary == "k0: 0 -> 1; k1: 1 -> 2; k2: 2 -> 3 (+3 more)"


def test_filters_by_category_and_by_symbol(store: Store) -> None:
    store.orders.save(
        Order(client_id="c1", symbol="ETH/USDT", side=Side.BUY, type=OrderType.MARKET,
              qty=Decimal("1"))
    )  # fmt: skip
    store.audit.add("user", "order.intent", "c1", {**INTENT, "symbol": "ETH/USDT"})
    store.audit.add("user", "order.status", "c1", {"from": "NEW", "to": "REJECTED"})
    store.audit.add("user", "kill_switch", "on")
    store.audit.add("cli", "scan", "BTC/USDT,ETH/USDT", {"timeframe": "1h"})
    store.audit.add("cli", "import", "SOL/USDT")
    assert [e.action for e in audit_report(store, 0, categories=["refusal", "decision"])] == [
        "order.status",
        "kill_switch",
    ]
    about = audit_report(store, 0, symbol="eth/usdt")
    assert [e.action for e in about] == ["order.intent", "order.status", "scan"]
    assert about[1].symbol == "ETH/USDT"  # from the order its subject names
    with pytest.raises(ValueError, match="unknown categories: nope"):
        audit_report(store, 0, categories=["nope"])


def test_a_detail_that_is_not_json_is_kept_and_summarised_empty(store: Store) -> None:
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO audit_log (ts, actor, action, subject, detail) VALUES (1, 'x', 'y', '',"
            " 'not json')"
        )
    [entry] = audit_report(store, 0)
    assert (entry.category, entry.summary, entry.detail) == ("other", "", "not json")


# -- record_config -----------------------------------------------------------------------------
def config(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return Settings.load(path, environ=environ or {})


def config_rows(store: Store) -> list[dict[str, Any]]:
    return store.audit.between(0, actions=[CONFIG_CHANGED, CONFIG_SNAPSHOT])


def test_the_first_record_is_the_full_snapshot_and_an_unchanged_config_adds_nothing(
    store: Store, tmp_path: Path
) -> None:
    settings = config(tmp_path, "[risk]\ndaily_loss_limit = 2500.0\n")
    assert record_config(store, settings, "runtime") == CONFIG_SNAPSHOT
    [row] = config_rows(store)
    held = json.loads(row["detail"])["settings"]
    assert held["risk.daily_loss_limit"] == 2500.0 and held["app.feed"] == "demo"
    assert held == config_snapshot(settings)
    assert row["actor"] == "runtime" and row["subject"] == str(tmp_path / "config.toml")
    assert record_config(store, settings, "runtime") is None
    assert record_config(store, config(tmp_path, "[risk]\ndaily_loss_limit = 2500\n"), "x") is None
    assert len(config_rows(store)) == 1


def test_a_changed_key_is_one_config_changed_row_with_old_and_new(
    store: Store, tmp_path: Path
) -> None:
    record_config(store, config(tmp_path, "[risk]\ndaily_loss_limit = 2500.0\n"), "runtime")
    changed = config(
        tmp_path,
        '[risk]\ndaily_loss_limit = 1000.0\n[app]\ntheme = "nord"\n',
        {"QWS__RISK__KILL_FLATTENS": "true"},
    )
    assert record_config(store, changed, "runtime") == CONFIG_CHANGED
    rows = config_rows(store)
    assert [r["action"] for r in rows] == [CONFIG_SNAPSHOT, CONFIG_CHANGED]
    detail = json.loads(rows[1]["detail"])
    assert detail["changed"] == {
        "app.theme": ["textual-dark", "nord"],
        "risk.daily_loss_limit": [2500.0, 1000.0],
        "risk.kill_flattens": [False, True],
    }
    assert detail["sources"]["risk.kill_flattens"] == "env QWS__RISK__KILL_FLATTENS"
    assert detail["sources"]["app.theme"] == f"file {tmp_path / 'config.toml'}"
    [entry] = audit_report(store, 0, categories=["config"])[1:]
    assert entry.summary == (
        'app.theme: "textual-dark" -> "nord"; risk.daily_loss_limit: 2500.0 -> 1000.0;'
        " risk.kill_flattens: false -> true"
    )
    # compared with the newest record, not the first: the same config again adds nothing
    assert record_config(store, changed, "runtime") is None
    assert len(config_rows(store)) == 2


def test_a_key_back_to_its_default_and_a_key_added_are_changes(
    store: Store, tmp_path: Path
) -> None:
    record_config(store, config(tmp_path, '[commands.aliases]\nbitcoin = "BTC"\n'), "runtime")
    record_config(store, config(tmp_path, '[commands.aliases]\nether = "ETH"\n'), "runtime")
    detail = json.loads(config_rows(store)[-1]["detail"])
    assert detail["changed"] == {
        "commands.aliases.bitcoin": ["BTC", None],
        "commands.aliases.ether": [None, "ETH"],
    }


def test_a_secret_in_a_setting_is_stored_masked_and_stays_unchanged(
    store: Store, tmp_path: Path
) -> None:
    secret = protect("tok-audit-report-5d1c9e")
    text = f'[telegram]\napi_url = "https://api.example/bot{secret}"\n'
    assert record_config(store, config(tmp_path, text), "runtime") == CONFIG_SNAPSHOT
    [row] = config_rows(store)
    assert secret not in row["detail"]
    assert json.loads(row["detail"])["settings"]["telegram.api_url"] == "https://api.example/bot***"
    assert record_config(store, config(tmp_path, text), "runtime") is None
