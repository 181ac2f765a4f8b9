"""``qws trade`` as a user runs it: a subprocess on a replay at full speed, stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import random_bars
from workstation.store import Store

QWS = str(Path(sys.executable).parent / "qws")
CONFIG = """
[replay]
warmup = 0
[brokers.paper]
balances = {USD = 10000, USDT = 0, JPY = 0}
fees = {default = {maker = 0.001, taker = 0.001}}
[telegram]
chat_ids = [42]
[risk]
daily_loss_limit = 0
"""


def _env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "qws.toml"
    config.write_text(CONFIG)
    return {**os.environ, "QWS_CONFIG": str(config), "QWS_DB": str(tmp_path / "qws.db")}


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 120.0) -> list[str]:
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} never came; stderr so far: {''.join(lines)}")


def test_trade_on_a_replay_makes_the_backtest_trades_and_stores_everything(
    tmp_path: Path,
) -> None:
    bars = random_bars(400, seed=3)
    csv = tmp_path / "test.csv"
    bars.write_csv(csv)
    env = _env(tmp_path)
    proc = subprocess.Popen(
        [
            QWS,
            "trade",
            "--feed",
            "replay",
            "--file",
            str(csv),
            "--symbol",
            "TEST",
            "--timeframe",
            "1h",
            "--speed",
            "0",
            "--strategy",
            "sma_cross:fast=5,slow=20",
            "--stay",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        _wait_for_line(proc, "stream ended")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped (400 bars, 400 quotes" in err

    backtest = subprocess.run(
        [
            QWS,
            "backtest",
            "--csv",
            str(csv),
            "--strategy",
            "sma_cross",
            "--param",
            "fast=5",
            "--param",
            "slow=20",
            "--commission",
            "0.001",
            "--trade-on-close",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert backtest.returncode == 0, backtest.stderr
    report = json.loads(backtest.stdout)
    index = {int(t): i for i, t in enumerate(bars["ts"].to_list())}
    expected = []
    for t in report["trades"]:
        expected.append((t["entry_bar"], t["size"], t["entry_price"]))
        expected.append((t["exit_bar"], -t["size"], t["exit_price"]))
    for t in report["open_trades"]:
        expected.append((t["entry_bar"], t["size"], t["entry_price"]))

    store = Store(tmp_path / "qws.db")
    try:
        fills = store.fills.find(venue="paper")
        got = [(index[f.ts_ns], float(f.side.sign * f.qty), float(f.price)) for f in fills]
        assert len(got) == len(expected) > 6
        for (bar, qty, price), (ebar, eqty, eprice) in zip(
            got, sorted(expected, key=lambda e: e[0]), strict=True
        ):
            assert bar == ebar
            assert price == pytest.approx(eprice, rel=1e-12)
            assert qty == pytest.approx(eqty)
        orders = store.orders.find(venue="paper", limit=10_000)
        assert len(orders) == len(fills)  # every order filled; none rejected
        assert {o.client_id for o in orders} == {f.client_id for f in fills}
        # an equity mark at every closed bar (a fill at a bar's time re-marks that instant),
        # valued like the backtest values its equity
        points = store.equity.points("paper", 0)
        assert [t for t, _ in points] == bars["ts"].to_list()
        final = report["stats"]["equity_final"]
        assert points[-1][1] == pytest.approx(final, rel=1e-9)
        # the fill alerts, queued for the configured chat, in the order of the fills
        alerts = [r for r in store.alerts.find(limit=10_000) if r["kind"] == "fill"]
        alerts.sort(key=lambda r: r["id"])
        assert [r["channel"] for r in alerts] == ["telegram:42"] * len(fills)
        assert [json.loads(r["data"])["qty"] for r in alerts] == [str(f.qty) for f in fills]
        signals = store.signals.count()
        assert f"{signals} signal" in err or signals == out.count(" signal ")
        assert out.count(" fill ") == len(fills)
    finally:
        store.close()


def test_trade_answers_bad_input_with_one_line_and_exit_2(tmp_path: Path) -> None:
    csv = tmp_path / "test.csv"
    random_bars(50, seed=1).write_csv(csv)
    env = _env(tmp_path)
    base = [QWS, "trade", "--feed", "replay", "--file", str(csv), "--symbol", "TEST", "--speed"]
    cases = {
        "unknown strategy 'nope'": ["0", "--strategy", "nope"],
        "must look like name=value": ["0", "--strategy", "sma_cross:fast"],
        "must be int": ["0", "--strategy", "sma_cross:fast=abc"],
        "not symbols of the replay feed: XYZ": ["0", "--symbols", "XYZ", "--strategy", "sma_cross"],
        "unknown broker 'nosuch'": ["0", "--strategy", "sma_cross", "--broker", "nosuch"],
    }
    for expected, extra in cases.items():
        out = subprocess.run(
            base + extra, capture_output=True, text=True, timeout=120, env=env, check=False
        )
        assert out.returncode == 2, (expected, out.stderr)
        assert expected in out.stderr.splitlines()[-1], out.stderr
        assert "Traceback" not in out.stderr
    store = Store(tmp_path / "qws.db")
    try:
        assert store.orders.find(limit=10) == []  # nothing was traded on a broken start
    finally:
        store.close()
