"""The dashboard's status line as text: pure functions of the app's counters, the feed's health
and the desk's state (Rich markup; the app refreshes it once a second)."""

from __future__ import annotations

import time

from feeds.health import STREAM_ENDED, FeedHealth

HEALTHY_STATES = ("live", "connected", "streaming")


def feed_health(error: str, health: FeedHealth | None) -> str:
    """The feed's own health: the error that stopped it (or the restart under way), else its
    connection state, reconnects, the bad inputs it dropped and the bars it is missing (a
    feed without ``health`` is just "live"; one that played to its end is "finished")."""
    gaps = _gaps(health)
    if error == STREAM_ENDED:
        return f"finished{gaps}"
    if error:
        return f"[red]{error}[/red]{gaps}"
    if health is None:
        return "live"
    state = str(health.state)
    text = state if state in HEALTHY_STATES else f"[yellow]{state}[/yellow]"
    if health.reconnects:
        text += f" · reconnects {health.reconnects}"
    drops = health.drops()
    dropped = sum(drops.values())
    if dropped:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(drops.items()))
        text += f" · [yellow]bad input dropped {dropped} ({reasons})[/yellow]"
    return text + gaps


def feed_progress(feed: object) -> str:
    """Where a feed that plays a file is (a replay: bar k of n, its time), else nothing."""
    progress = getattr(feed, "progress", None)
    return f" · {progress().describe()}" if callable(progress) else ""


def _gaps(health: FeedHealth | None) -> str:
    """The first bars the feed could not backfill (never skipped silently), and how many more."""
    gaps = health.gaps() if health is not None else []
    if not gaps:
        return ""
    more = f" (+{len(gaps) - 1} more)" if len(gaps) > 1 else ""
    return f" · [red]gap {gaps[0].describe()}{more}[/red]"


def broker_state(venue: str | None, live: bool, kill_switch: bool, error: str = "") -> str:
    """The desk: its venue (LIVE and KILL SWITCH marked), or why there is none (yet)."""
    if venue is not None:
        kill = " [red b]KILL SWITCH[/]" if kill_switch else ""
        return ("[red b]LIVE[/] " if live else "") + venue + kill
    return f"[red]no broker: {error}[/]" if error else "broker…"


def status_line(
    feed: str, health: str, quotes: int, bars_stored: int, drops: int, broker: str, now_ns: int
) -> str:
    """One line: the feed and its health, what went through, the broker, the UTC time."""
    stamp = time.strftime("%H:%M:%S", time.gmtime(now_ns / 1e9))
    return (
        f"feed {feed}: {health} · quotes {quotes:,} · bars stored {bars_stored:,}"
        f" · drops {drops} · {broker} · {stamp} UTC"
    )
