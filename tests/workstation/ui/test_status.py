"""The status line's text, from plain values (no app)."""

from __future__ import annotations

from feeds.health import FeedHealth, Gap
from tests.workstation.ui.ui_helpers import FROZEN_NS
from workstation.ui.status import broker_state, feed_health, status_line


def test_a_stopped_feed_shows_why_in_red_and_a_feed_without_health_is_live() -> None:
    assert feed_health("ConnectionError: refused", None) == "[red]ConnectionError: refused[/red]"
    assert feed_health("", None) == "live"


def test_health_shows_state_reconnects_and_dropped_inputs_by_reason() -> None:
    health = FeedHealth("test")
    health.state = "connected"
    assert feed_health("", health) == "connected"
    health.state = "reconnecting"
    health.reconnects = 2
    health.drop("nan_price")
    health.drop("nan_price")
    health.drop("stale")
    assert feed_health("", health) == (
        "[yellow]reconnecting[/yellow] · reconnects 2"
        " · [yellow]bad input dropped 3 (nan_price 2, stale 1)[/yellow]"
    )


def test_the_broker_part_marks_live_and_the_kill_switch_or_says_why_there_is_none() -> None:
    assert broker_state("paper", live=False, kill_switch=False) == "paper"
    assert broker_state("ccxt", live=True, kill_switch=True) == (
        "[red b]LIVE[/] ccxt [red b]KILL SWITCH[/]"
    )
    assert broker_state(None, False, False) == "broker…"
    assert broker_state(None, False, False, "KeyError: 'x'") == "[red]no broker: KeyError: 'x'[/]"


def test_the_line_puts_counters_broker_and_utc_time_together() -> None:
    line = status_line("demo", "live", 12_345, 67, 0, "paper", FROZEN_NS)
    assert line == (
        "feed demo: live · quotes 12,345 · bars stored 67 · drops 0 · paper · 11:06:40 UTC"
    )


def test_bars_the_feed_could_not_backfill_are_shown_as_a_gap() -> None:
    health = FeedHealth("test")
    health.state = "live"
    minute = 60_000_000_000
    start = FROZEN_NS - FROZEN_NS % minute
    health.open_gap(Gap("BTC/USDT", start, start + 3 * minute, 3, "not backfilled: HTTP 503"))
    health.open_gap(Gap("ETH/USDT", start + minute, start + 2 * minute, 1, "backfilling"))
    assert feed_health("", health) == (
        "live · [red]gap BTC/USDT: 3 bar(s) missing from 2026-11-18 11:06 until 11:09 UTC"
        " (not backfilled: HTTP 503) (+1 more)[/red]"
    )
    health.close_gap("ETH/USDT", start + minute)
    health.close_gap("BTC/USDT", start)
    assert feed_health("", health) == "live" and health.gaps_filled == 2


def test_a_feed_restarting_shows_why_and_when() -> None:
    text = "feed restarting in 4 s (3rd try): FeedError: binance: giving up"
    assert feed_health(text, FeedHealth("test")) == f"[red]{text}[/red]"


def test_a_feed_that_played_to_its_end_is_finished_not_an_error() -> None:
    assert feed_health("stream ended", None) == "finished"
    assert feed_health("stream ended", FeedHealth("replay")) == "finished"
