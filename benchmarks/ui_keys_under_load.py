"""Key answers under a quote burst, measured headless. Prints figures; asserts nothing.

The same rounds of keys (down: the next symbol charted; f1: help shown; escape: help gone;
colon: the command bar focused; escape: unfocused) are pressed on the dashboard twice: while
2,000 quotes/s over 50 symbols stream (feeds.synthetic), and, as the reference, while the same
feed trickles 10 quotes/s. A key's answer time runs from the key reaching the driver to its
effect being on the screen's state (polled every millisecond, the same way in both runs). The
two runs must answer the same keys with the same effects (the symbols charted, in order);
that is checked before any figure is printed. ``tests/workstation/ui/test_stress.py`` asserts
that every key is answered, in order; how fast is this script's business.

Usage: python benchmarks/ui_keys_under_load.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness import percentile, verdict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BURST = 2000.0
QUIET = 10.0
KEYS = ("down", "f1", "escape", "colon", "escape")


async def answers(rate: float, rounds: int) -> tuple[dict[str, list[float]], list[str], int]:
    """Seconds per key (by key), the symbols charted in order, and the quotes the feed made."""
    from textual import events

    from feeds.synthetic import SyntheticFeed
    from widgets.chart import Chart
    from widgets.command_bar import CommandBar
    from widgets.watchlist import Watchlist
    from workstation.runtime.config import Settings
    from workstation.store import Store
    from workstation.ui.app import QwsApp
    from workstation.ui.screens.help import HelpScreen

    feed = SyntheticFeed(symbols=50, rate=rate)
    times: dict[str, list[float]] = {key: [] for key in dict.fromkeys(KEYS)}
    charted: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        app = QwsApp(feed, store, Settings.load(environ={}), show_clock=False)
        async with app.run_test(size=(120, 36)):
            dashboard = app.dashboard
            watchlist = dashboard.query_one(Watchlist)
            chart = dashboard.query_one(Chart)
            bar = dashboard.query_one(CommandBar)

            async def press(key: str, effect: Callable[[], bool], char: str | None = None) -> None:
                event = events.Key(key, char)
                event.set_sender(app)
                assert app._driver is not None
                sent = time.perf_counter()
                app._driver.send_message(event)
                while not effect():
                    await asyncio.sleep(0.001)
                times[key].append(time.perf_counter() - sent)

            while not (chart.bar_count and dashboard.cycle_runs):  # the engine warmed up
                await asyncio.sleep(0.05)
            for _ in range(rounds):
                watchlist.focus()
                if watchlist.cursor == len(watchlist.order) - 1:
                    watchlist.select_symbol(watchlist.order[0])
                before = chart.symbol
                await press("down", lambda b=before: chart.symbol != b and chart.bar_count > 0)
                charted.append(chart.symbol)
                await press("f1", lambda: isinstance(app.screen, HelpScreen))
                await press("escape", lambda: not isinstance(app.screen, HelpScreen))
                await press("colon", lambda: bar.has_focus, ":")
                await press("escape", lambda: not bar.has_focus)
                await asyncio.sleep(0.2)
        store.close()
    return times, charted, feed.sent


def _ms(seconds: list[float]) -> tuple[float, float, float]:
    a = [s * 1e3 for s in seconds]
    return percentile(a, 50), percentile(a, 99), max(a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    quiet, quiet_charted, quiet_sent = asyncio.run(answers(QUIET, args.rounds))
    burst, burst_charted, burst_sent = asyncio.run(answers(BURST, args.rounds))
    if quiet_charted != burst_charted:
        raise SystemExit(f"the runs answered differently: {quiet_charted} != {burst_charted}")

    print(f"key answers, {len(KEYS)} keys x {args.rounds} rounds ({', '.join(KEYS)})")
    print(f"    quotes made: quiet {quiet_sent:,}, burst {burst_sent:,}; same symbols charted")
    q_all = [t for ts in quiet.values() for t in ts]
    b_all = [t for ts in burst.values() for t in ts]
    for name, q, b in [("all keys", q_all, b_all), *[(k, quiet[k], burst[k]) for k in quiet]]:
        q50, q99, _ = _ms(q)
        b50, b99, bmax = _ms(b)
        print(
            f"    {name:8}  {QUIET:.0f}/s (ref): median {q50:6.1f} ms  p99 {q99:6.1f} ms"
            f"   {BURST:,.0f}/s: median {b50:6.1f} ms  p99 {b99:6.1f} ms  max {bmax:6.1f} ms"
            f"   ratio median {b50 / q50:.1f}x  p99 {b99 / q99:.1f}x"
        )
    p99 = percentile([t * 1e3 for t in b_all], 99)
    verdict(
        f"key answer p99 under {BURST:,.0f} quotes/s over 50 symbols",
        f"{p99:.0f} ms ({len(b_all)} keys)",
        "< 100 ms",
        p99 < 100.0,
    )


if __name__ == "__main__":
    main()
