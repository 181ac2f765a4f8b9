"""The workstation screen, measured headless. Prints figures; asserts nothing.

(a) start to first frame: a fresh interpreter runs ``qws``'s app on the demo feed and reports
    when the first frame has been rendered (target < 1.5 s); reference: a one-widget Textual
    app started the same way, so the ratio shows what qws adds.
(b) tick to screen: 2,000 quotes/s over 50 symbols (feeds.synthetic) for 10 s; latency from
    the quote being made (and published) to its watchlist row being updated, p50/p99 (target
    p99 < 16 ms); reference: the same stream through the hub to a bare asyncio consumer.
(c) memory: RSS while a replay plays at maximum speed (every bar a quote and a closed bar,
    stored, charted, scanned); the issue asks for 10 minutes, this runs ``--replay-s`` (60 s by
    default) and prints RSS every 10 s so growth is visible.

Usage: python benchmarks/tui.py [--replay-s 60] [--stream-s 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST_FRAME_QWS = """
import sys, time
t0 = float(sys.argv[1])
from feeds.demo import DemoFeed
from workstation.ui.app import QwsApp
from workstation.runtime.config import Settings
from workstation.store import Store

import workstation.ui.app

class Probe(QwsApp):
    CSS_PATH = workstation.ui.app.__file__.replace("app.py", "app.tcss")

    async def on_mount(self):
        await super().on_mount()
        self.call_after_refresh(self.first_frame)

    def first_frame(self):
        heavy = sorted(m for m in ("qiskit", "numba") if m in sys.modules)
        print(time.time() - t0, ",".join(heavy) or "-")
        self.exit()

Probe(DemoFeed(), Store(sys.argv[2]), Settings.load(environ={})).run(headless=True)
"""

FIRST_FRAME_REFERENCE = """
import sys, time
t0 = float(sys.argv[1])
from textual.app import App
from textual.widgets import Static

class Probe(App):
    def compose(self):
        yield Static("hello")

    def on_mount(self):
        self.call_after_refresh(self.first_frame)

    def first_frame(self):
        print(time.time() - t0, "-")
        self.exit()

Probe().run(headless=True)
"""


def first_frame(code: str, runs: int = 5) -> tuple[float, str]:
    times, heavy = [], "-"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HOME": tmp, "XDG_CONFIG_HOME": tmp, "XDG_DATA_HOME": tmp}
        for i in range(runs):
            t0 = time.time()
            out = subprocess.run(
                [sys.executable, "-c", code, repr(t0), str(Path(tmp) / f"b{i}.db")],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=env,
                timeout=120,
            )
            if out.returncode != 0:
                raise SystemExit(out.stderr[-2000:])
            seconds, heavy = out.stdout.split()[-2:]
            times.append(float(seconds))
    return statistics.median(times), heavy


def _percentiles(ns: list[int]) -> tuple[float, float, float]:
    a = np.asarray(ns, dtype=np.float64) / 1e6
    return float(np.percentile(a, 50)), float(np.percentile(a, 99)), float(a.max())


async def hub_reference(seconds: float) -> list[int]:
    from feeds.synthetic import SyntheticFeed
    from workstation.runtime.hub import Hub

    feed = SyntheticFeed(symbols=50, rate=2000, duration_s=seconds)
    hub = Hub()
    sub = hub.subscribe("reference")
    lat: list[int] = []

    async def consume() -> None:
        while True:
            try:
                await sub.wait()
            except StopAsyncIteration:
                return
            now = time.time_ns()
            lat.extend(now - t.ts_ns for t in sub.get_nowait_all())
            await asyncio.sleep(0)

    task = asyncio.create_task(consume())
    async for tick in feed.stream(feed.symbols()):
        await hub.publish(tick)
    await asyncio.sleep(0.1)
    hub.close()
    await task
    return lat


async def tick_to_screen(
    seconds: float,
) -> tuple[list[int], list[int], int, int, list[float]]:
    """Latencies over the whole run, and over the steady state (after the engine's first
    QPE run: numba compiling and qiskit importing on the engine thread compete for the GIL)."""
    from feeds.synthetic import SyntheticFeed
    from widgets.watchlist import Watchlist
    from workstation.runtime.config import Settings
    from workstation.store import Store
    from workstation.ui.app import QwsApp

    feed = SyntheticFeed(symbols=50, rate=2000, duration_s=seconds)
    lat: list[int] = []
    steady: list[int] = []
    frames: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        app = QwsApp(feed, store, Settings.load(environ={}), show_clock=False)
        async with app.run_test(size=(160, 50)):
            watchlist = app.dashboard.query_one(Watchlist)
            original = watchlist.update_quote

            def timed(tick):  # type: ignore[no-untyped-def]
                original(tick)
                ns = time.time_ns() - tick.ts_ns
                lat.append(ns)
                if screen.cycle_runs:
                    steady.append(ns)

            screen = app.dashboard
            watchlist.update_quote = timed  # type: ignore[method-assign]
            paint = screen._compositor_refresh

            def painted() -> None:
                t = time.perf_counter()
                paint()
                frames.append(time.perf_counter() - t)

            screen._compositor_refresh = painted  # type: ignore[method-assign]
            deadline = time.perf_counter() + seconds + 5
            while feed.sent < seconds * 2000 * 0.98 and time.perf_counter() < deadline:
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            replaced = sum(s.replaced for s in app.hub.stats() if s.name == "screen")
            sent = feed.sent
        store.close()
    return lat, steady, sent, replaced, frames


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def replay_memory(seconds: float) -> list[tuple[float, float, int]]:
    import polars as pl

    from engine.timeframes import OHLCV_SCHEMA
    from feeds.replay import ReplayFeed
    from workstation.runtime.config import Settings
    from workstation.store import Store
    from workstation.ui.app import QwsApp

    n = 3_000_000
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    frame = pl.DataFrame(
        {
            "ts": 1_600_000_000_000_000_000 + 60_000_000_000 * np.arange(n, dtype=np.int64),
            "open": open_,
            "high": np.maximum(open_, close) * 1.0005,
            "low": np.minimum(open_, close) * 0.9995,
            "close": close,
            "volume": rng.uniform(1, 10, n),
        },
        schema=OHLCV_SCHEMA,
    )
    feed = ReplayFeed(frame=frame, symbol="REPLAY", timeframe="1m", speed=0, warmup=1000)
    samples: list[tuple[float, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "replay.db")
        app = QwsApp(feed, store, Settings.load(environ={}), show_clock=False)
        async with app.run_test(size=(160, 50)):
            start = time.perf_counter()
            samples.append((0.0, rss_mib(), app.bars_stored))
            while (elapsed := time.perf_counter() - start) < seconds:
                await asyncio.sleep(10 - (elapsed % 10))
                samples.append((time.perf_counter() - start, rss_mib(), app.bars_stored))
        store.close()
    del frame
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replay-s", type=float, default=60.0)
    parser.add_argument("--stream-s", type=float, default=10.0)
    args = parser.parse_args()

    qws, heavy = first_frame(FIRST_FRAME_QWS)
    ref, _ = first_frame(FIRST_FRAME_REFERENCE)
    print("(a) start to first frame (median of 5 fresh interpreters)")
    print(f"    qws dashboard on the demo feed: {qws * 1e3:7.0f} ms  (target < 1500 ms)")
    print(f"    one-widget Textual app (ref):   {ref * 1e3:7.0f} ms  ratio {qws / ref:.2f}x")
    print(f"    heavy modules loaded at the first frame: {heavy}")

    ref_lat = asyncio.run(hub_reference(args.stream_s))
    lat, steady, sent, replaced, frames = asyncio.run(tick_to_screen(args.stream_s))
    p50, p99, worst = _percentiles(lat)
    s50, s99, sworst = _percentiles(steady or [0])
    r50, r99, _ = _percentiles(ref_lat)
    print(f"(b) tick to screen, 2,000 quotes/s over 50 symbols for {args.stream_s:.0f} s")
    print(
        f"    quotes made {sent:,}; rows updated {len(lat):,};"
        f" superseded in the hub before display {replaced:,}"
    )
    print(f"    quote -> watchlist row: p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  max {worst:6.1f} ms")
    print(
        f"      steady state ({len(steady):,} rows, after the engine's first QPE run):"
        f" p50 {s50:6.2f} ms  p99 {s99:6.2f} ms  max {sworst:6.1f} ms"
    )
    print(f"    quote -> hub consumer (ref): p50 {r50:6.2f} ms  p99 {r99:6.2f} ms")
    print(f"    ratio p99 screen/hub: {p99 / r99:.1f}x  (target p99 < 16 ms)")
    if frames:
        f = np.asarray(frames) * 1e3
        print(
            f"    frames painted {len(f):,} ({len(f) / args.stream_s:.0f}/s),"
            f" paint p50 {np.percentile(f, 50):.1f} ms p99 {np.percentile(f, 99):.1f} ms"
        )

    samples = asyncio.run(replay_memory(args.replay_s))
    print(f"(c) RSS during a max-speed replay, {args.replay_s:.0f} s (the issue asks 10 min)")
    for t, rss, bars in samples:
        print(f"    t={t:5.0f} s  RSS {rss:7.1f} MiB  bars replayed+stored {bars:,}")
    first, last = samples[1] if len(samples) > 1 else samples[0], samples[-1]
    rate = last[2] / last[0] if last[0] else 0.0
    print(
        f"    growth after the first 10 s: {last[1] - first[1]:+.1f} MiB"
        f" over {last[0] - first[0]:.0f} s; {rate:,.0f} bars/s"
    )


if __name__ == "__main__":
    main()
