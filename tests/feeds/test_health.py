"""Drop counters: counted per reason, logged once per reason per period, visible in snapshot()."""

from __future__ import annotations

import logging

import pytest

from feeds.health import FeedHealth, snapshot


def test_drops_are_counted_per_reason_and_logged_once_per_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    health = FeedHealth("venue-x", log_every_s=60.0, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="qws.feeds")
    for _ in range(500):
        health.drop("malformed_json", "Expecting value")
    health.drop("nan_price", "BTC/USDT")
    assert health.drops() == {"malformed_json": 500, "nan_price": 1}
    assert len(caplog.records) == 2
    now[0] += 59.0
    health.drop("malformed_json")
    assert len(caplog.records) == 2
    now[0] += 1.0
    health.drop("malformed_json")
    assert len(caplog.records) == 3
    assert "dropped 501 input(s) (malformed_json)" in caplog.records[-1].getMessage()
    assert health.dropped == 503


def test_snapshot_lists_live_feeds_with_their_state() -> None:
    health = FeedHealth("venue-y")
    health.state = "live"
    health.drop("duplicate")
    rows = [r for r in snapshot() if r["name"] == "venue-y"]
    assert rows and rows[-1]["state"] == "live" and rows[-1]["drops"] == {"duplicate": 1}
