"""``qws order --algo`` as a user runs it: a VWAP parent worked over a replayed session by a
real process, killed with SIGKILL half way, resumed by the next runtime, and stopped by
``qws kill on`` from another process."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import polars as pl

from engine.trading.schedule import DAY_NS, AlgoStatus
from workstation.store import Store

QWS = str(Path(sys.executable).parent / "qws")
MIN = 60_000_000_000
DAY0 = 20_000 * DAY_NS  # 2024-10-04
CONFIG = """
[replay]
warmup = {warmup}
[brokers.paper]
balances = {{USD = 10000000}}
[risk]
daily_loss_limit = 0
max_orders_per_minute = 1000
"""


def session(day: int, seed: int) -> pl.DataFrame:
    """Two hours (09:00-11:00 UTC) of 1m bars with an open's and a close's heavy volume."""
    rng = np.random.default_rng(seed)
    m = np.arange(120)
    close = np.round(2000 + np.cumsum(rng.normal(0, 1.0, 120)), 2)
    return pl.DataFrame(
        {
            "ts": DAY0 + day * DAY_NS + 9 * 60 * MIN + m * MIN,
            "open": close,
            "high": close + 0.5,
            "low": close - 0.5,
            "close": close,
            "volume": np.round((50 + 400 * ((m - 60) / 60) ** 2) * rng.uniform(0.8, 1.2, 120), 3),
        }
    )


def setup(tmp_path: Path, warmup: int) -> tuple[dict[str, str], Path]:
    """Four earlier sessions in the store; the fifth (warm-up) and the sixth in the file."""
    db = tmp_path / "qws.db"
    with Store(db) as store:
        for day in range(1, 5):
            store.candles.upsert(session(day, day), "ETH", "1m", "replay")
    csv = tmp_path / "eth.csv"
    pl.concat([session(5, 5), session(6, 6)]).write_csv(csv)
    config = tmp_path / "qws.toml"
    config.write_text(CONFIG.format(warmup=warmup))
    env = {**os.environ, "QWS_CONFIG": str(config), "QWS_DB": str(db)}
    return env, csv


def children(db: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(
            "SELECT client_id, qty, status FROM orders WHERE parent_id IS NOT NULL"
            " ORDER BY created_ns, client_id"
        ).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def wait_for(
    check: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 120.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the process ended first ({proc.returncode}): {out}\n{err}")
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_vwap_parent_killed_mid_run_is_resumed_without_duplicates(tmp_path: Path) -> None:
    env, csv = setup(tmp_path, warmup=120)
    db = Path(env["QWS_DB"])
    order = [QWS, "order", "buy", "30", "ETH", "--algo", "vwap", "--over", "1h", "--slices",
             "12", "--max-participation", "10%", "--feed", "replay", "--file", str(csv),
             "--yes"]  # fmt: skip
    # 0.25 s a bar: a child every 1.25 s, so the kill lands between children
    proc = subprocess.Popen([*order, "--speed", "240"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        wait_for(lambda: len(children(db)) >= 3, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = children(db)
    assert 3 <= len(before) < 12
    with Store(db) as store:
        [parent] = store.algos.find()
        assert parent.status is AlgoStatus.WORKING and parent.started
        counted = parent.last_bar_ns
    # the next runtime of the account (the replay played again from its start) takes it over
    resumed = subprocess.run([QWS, "algo", "resume", "--feed", "replay", "--file", str(csv),
                              "--speed", "0"], env=env, text=True, capture_output=True,
                             timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed" in resumed.stdout and "done" in resumed.stdout
    after = children(db)
    ids = [c[0] for c in after]
    assert len(ids) == len(set(ids))
    assert ids[: len(before)] == [c[0] for c in before]
    assert ids == [f"{parent.id}.{n}" for n in range(1, len(ids) + 1)]
    with Store(db) as store:
        done = store.algos.get(parent.id)
        assert done is not None and done.status is AlgoStatus.DONE, done
        kids = store.orders.children(parent.id)
        filled = sum((c.filled_qty for c in kids), start=D(0))
        fills = [f for c in kids for f in store.fills.find(client_id=c.client_id)]
        assert filled == sum((f.qty for f in fills), start=D(0)) == D(30)
        [position] = [p for p in store.positions.find("paper") if p.symbol == "ETH"]
        assert position.qty == D(30)
        assert done.last_bar_ns > counted
        # what the bars of the parent's hour traded: each counted once, across both runs
        bars = store.candles.between("ETH", "1m", done.start_ns, done.end_ns, "replay")
        assert done.market_volume == sum((D(repr(v)) for v in bars["volume"]), start=D(0))
        for c in kids:  # within 10 % of the volume traded before each child
            traded = bars.filter(pl.col("ts") + MIN <= c.ts_ns)["volume"].sum()
            upto = sum((k.qty for k in kids if k.ts_ns <= c.ts_ns), start=D(0))
            assert float(upto) <= 0.1 * traded + 1e-9
    shown = subprocess.run([QWS, "algo", "show", parent.id], env=env, text=True,
                           capture_output=True, timeout=60)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "filled 30 of 30" in shown.stdout.replace(".00", "")
    assert "slippage vs arrival" in shown.stdout and "participation" in shown.stdout


def test_the_kill_switch_from_another_process_stops_the_parent(tmp_path: Path) -> None:
    env, csv = setup(tmp_path, warmup=120)
    db = Path(env["QWS_DB"])
    proc = subprocess.Popen(
        [QWS, "order", "sell", "10", "ETH", "--algo", "twap", "--over", "1h", "--slices", "10",
         "--feed", "replay", "--file", str(csv), "--speed", "240", "--yes"],
        env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for(lambda: len(children(db)) >= 2, proc)
        kill = subprocess.run([QWS, "kill", "on"], env=env, text=True, capture_output=True,
                              timeout=60)  # fmt: skip
        assert kill.returncode == 0, kill.stderr
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out + err
    assert "stopped: kill switch" in out
    sent = children(db)
    with Store(db) as store:
        [parent] = store.algos.find()
        assert parent.status is AlgoStatus.STOPPED
        assert len(store.orders.children(parent.id)) == len(sent) < 10


def test_bad_algo_orders_are_refused_in_one_line(tmp_path: Path) -> None:
    env, csv = setup(tmp_path, warmup=120)
    feed = ["--feed", "replay", "--file", str(csv), "--speed", "0", "--yes"]
    cases = {
        ("--algo", "twap"): "--over",
        ("--algo", "twap", "--over", "soon"): "duration",
        ("--algo", "vwap", "--over", "1h", "--max-participation", "150%"): "participation",
        ("--algo", "twap", "--over", "1h", "--limit", "2000"): "--child limit",
    }
    for extra, needle in cases.items():
        r = subprocess.run([QWS, "order", "buy", "3", "ETH", *extra, *feed], env=env, text=True,
                           capture_output=True, timeout=60)  # fmt: skip
        assert r.returncode == 2, (extra, r.stdout, r.stderr)
        assert needle in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = subprocess.run([QWS, "order", "buy", "2.5", "ETH", "--algo", "twap", "--over", "10m",
                        *feed], env=env, text=True, capture_output=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "lot size" in r.stderr, r.stderr
    with Store(Path(env["QWS_DB"])) as store:
        assert store.algos.find() == []


def test_a_detached_parent_waits_for_a_runtime_and_can_be_cancelled(tmp_path: Path) -> None:
    config = tmp_path / "qws.toml"
    config.write_text("[risk]\ndaily_loss_limit = 0\n")
    env = {**os.environ, "QWS_CONFIG": str(config), "QWS_DB": str(tmp_path / "qws.db")}

    def qws(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([QWS, *args], env=env, text=True, capture_output=True, timeout=120)

    queued = qws("order", "buy", "0.02", "BTC/USDT", "--algo", "twap", "--over", "10m",
                 "--detach", "--yes")  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    pid = queued.stdout.split()[0]
    assert pid.startswith("algo-") and "queued" in queued.stdout
    listed = qws("algo")
    assert pid in listed.stdout and "working" in listed.stdout and "children 0" in listed.stdout
    with Store(Path(env["QWS_DB"])) as store:
        parent = store.algos.get(pid)
        assert parent is not None and not parent.started and store.algos.owner(pid) is None
    cancelled = qws("algo", "cancel", pid)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "cancelled" in cancelled.stdout
    again = qws("algo", "cancel", pid)
    assert again.returncode == 2 and "already ended" in again.stderr
    missing = qws("algo", "show", "algo-nope")
    assert missing.returncode == 2 and "no algorithm order" in missing.stderr
