from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.fake_binance import FakeBinance
from workstation.cli import main
from workstation.store import Store

QWS = str(Path(sys.executable).parent / "qws")


def qws(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QWS, "--db", str(db), *args], capture_output=True, text=True, timeout=60, env=os.environ
    )


def run(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> tuple[int, str, str]:
    rc = main(["--db", str(db), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_a_paper_trade_from_the_cli_shows_in_positions_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    db = tmp_path / "q.db"
    placed = qws(db, "order", "buy", "0.01", "BTC/USDT", "--yes")
    assert placed.returncode == 0, placed.stderr
    assert "FILLED" in placed.stdout
    shown = qws(db, "positions")  # a new process: everything comes back from disk
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if line.startswith("BTC/USDT"))
    assert row.split()[1] == "0.01"
    lines = shown.stdout.splitlines()
    assert lines[-2].startswith("balances:") and "USDT" in lines[-2]
    assert lines[-1].startswith("equity:") and lines[-1].endswith(" USD")
    with Store(db) as store:
        [pos] = store.positions.find("paper")
        assert str(pos.qty) == "0.01" and pos.avg_price > 60_000


def test_limit_order_rests_lists_as_open_and_cancels(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "q.db"
    rc, out, _ = run(capsys, db, "order", "buy", "0.1", "ETH/USDT", "--limit", "3000", "--yes")
    assert rc == 0 and " OPEN " in out
    cid = out.split()[0]
    rc, out, _ = run(capsys, db, "orders", "--open")
    assert cid in out and "limit" in out
    rc, out, _ = run(capsys, db, "cancel", cid)
    assert rc == 0 and "CANCELLED" in out
    rc, out, _ = run(capsys, db, "orders", "--open")
    assert "no open orders" in out
    rc, _, err = run(capsys, db, "cancel", "qws-nope")
    assert rc == 2 and "no order qws-nope" in err


def test_flatten_needs_confirmation_then_closes_and_pnl_reports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "q.db"
    run(capsys, db, "order", "sell", "2", "SOL/USDT", "--yes")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal
    rc, _, err = run(capsys, db, "flatten", "SOL/USDT")
    assert rc == 2 and "pass --yes" in err
    rc, out, _ = run(capsys, db, "positions")
    assert "SOL/USDT" in out
    rc, out, _ = run(capsys, db, "flatten", "SOL/USDT", "--yes")
    assert rc == 0 and "FILLED" in out
    rc, out, _ = run(capsys, db, "positions")
    assert "no open positions" in out
    rc, out, _ = run(capsys, db, "pnl")
    row = next(line for line in out.splitlines() if line.startswith("SOL/USDT"))
    realized, fees = (float(x.replace(",", "")) for x in row.split()[1:3])
    assert realized < 0 and fees > 0  # sold the bid, bought back the ask: the spread is lost
    rc, out, _ = run(capsys, db, "pnl", "--since", "2999-01-01")
    assert "no fills since 2999-01-01" in out
    rc, _, err = run(capsys, db, "pnl", "--since", "yesterday")
    assert rc == 2 and "YYYY-MM-DD" in err


def test_kill_switch_from_the_cli_blocks_orders(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "q.db"
    run(capsys, db, "order", "buy", "1", "ETH/USDT", "--limit", "3000", "--yes")
    rc, out, _ = run(capsys, db, "kill", "on")
    assert rc == 0 and "cancelled 1 open order" in out
    rc, out, _ = run(capsys, db, "order", "buy", "1", "ETH/USDT", "--yes")
    assert rc == 1 and "REJECTED" in out and "kill switch" in out
    run(capsys, db, "kill", "off")
    rc, out, _ = run(capsys, db, "kill")
    assert "kill switch: off" in out
    rc, out, _ = run(capsys, db, "order", "buy", "1", "ETH/USDT", "--yes")
    assert rc == 0 and "FILLED" in out


def test_off_grid_quantity_is_refused_with_the_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rc, out, _ = run(capsys, tmp_path / "q.db", "order", "buy", "0.000001", "BTC/USDT", "--yes")
    assert rc == 1 and "not a multiple of the lot size" in out


def test_risk_reports_var_and_cvar_of_open_positions(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "q.db"
    rc, out, _ = run(capsys, db, "risk")
    assert "nothing at risk" in out
    run(capsys, db, "order", "buy", "0.1", "BTC/USDT", "--yes")
    rc, out, _ = run(capsys, db, "risk", "--bars", "200")
    assert rc == 0 and "BTC/USDT" in out
    lines = [line for line in out.splitlines() if "VaR" in line]
    assert [line.split()[0] for line in lines] == ["95%", "99%"]
    var95 = float(lines[0].split()[3].replace(",", ""))
    var99 = float(lines[1].split()[3].replace(",", ""))
    assert 0 < var95 <= var99 < 6_400 * 0.2


@pytest.fixture
def binance_server() -> Iterator[FakeBinance]:
    """The local Binance spot server on its own event loop thread (the CLI runs its own)."""
    server = FakeBinance()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    base = asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    server.base_url = base  # type: ignore[attr-defined]
    yield server
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_live_orders_need_the_setting_and_a_confirmation_each(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    binance_server: FakeBinance,
) -> None:
    base = binance_server.base_url  # type: ignore[attr-defined]
    monkeypatch.setenv("QWS__TRADING__BROKER", "ccxt")
    monkeypatch.setenv("QWS__BROKERS__CCXT__URLS", f'{{public = "{base}", private = "{base}"}}')
    monkeypatch.setenv("QWS__BROKERS__CCXT__RETRIES", "0")
    monkeypatch.setenv("QWS__BROKERS__CCXT__RATE_LIMIT_MS", "5")
    monkeypatch.setenv("QWS_BINANCE_API_KEY", "test-key")
    monkeypatch.setenv("QWS_BINANCE_SECRET", "test-secret")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    db = tmp_path / "q.db"
    rc, out, _ = run(capsys, db, "order", "buy", "0.01", "BTC/USDT", "--yes")
    assert rc == 1 and "live trading is off" in out
    monkeypatch.setenv("QWS__TRADING__LIVE", "true")
    rc, _, err = run(capsys, db, "order", "buy", "0.01", "BTC/USDT")
    assert rc == 2 and "LIVE order" in err and "pass --yes" in err
    assert binance_server.count("POST", "/api/v3/order") == 0
    rc, out, _ = run(capsys, db, "order", "buy", "0.01", "BTC/USDT", "--yes")
    assert rc == 0 and "FILLED" in out
    monkeypatch.setenv("QWS__TRADING__CONFIRM_LIVE", "false")
    rc, out, _ = run(capsys, db, "order", "sell", "0.01", "BTC/USDT")
    assert rc == 0 and "FILLED" in out
    assert binance_server.count("POST", "/api/v3/order") == 2
    rc, out, _ = run(capsys, db, "orders")
    assert out.count("FILLED") == 2 and "REJECTED" in out


@pytest.fixture
def telegram_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config with one Telegram chat: the CLI queues its alerts for it (no token needed)."""
    config = tmp_path / "qws.toml"
    config.write_text("[telegram]\nchat_ids = [42]\n")
    monkeypatch.setenv("QWS_CONFIG", str(config))
    return config


def _alerts(db: Path) -> list[dict[str, object]]:
    with Store(db) as store:
        return store.alerts.find(limit=1_000)


def test_order_check_prints_the_verdict_and_sends_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "q.db"
    rc, out, _ = run(capsys, db, "order", "buy", "0.01", "BTC/USDT", "--check")
    assert (rc, out.strip()) == (0, "risk: OK")  # no --yes needed: nothing is placed
    rc, out, _ = run(capsys, db, "order", "buy", "0.000001", "BTC/USDT", "--check")
    assert rc == 1
    assert out.strip() == (
        "refused: BTC/USDT: quantity 0.000001 is not a multiple of the lot size 0.00001"
        " (largest below: 0.00000)"
    )
    rc, out, _ = run(capsys, db, "order", "buy", "10", "BTC/USDT", "--limit", "60000", "--check")
    assert rc == 1 and out.startswith("refused: order notional 600,000.00 exceeds the limit")
    with Store(db) as store:
        assert store.orders.find(limit=10) == [] and store.fills.find() == []


def test_cli_orders_queue_fill_and_rejection_alerts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, telegram_config: Path
) -> None:
    db = tmp_path / "q.db"
    rc, out, _ = run(capsys, db, "order", "buy", "0.01", "BTC/USDT", "--yes")
    assert rc == 0 and "FILLED" in out
    [fill] = _alerts(db)
    assert fill["kind"] == "fill" and fill["channel"] == "telegram:42"
    assert fill["symbol"] == "BTC/USDT" and fill["status"] == "pending"
    data = json.loads(str(fill["data"]))
    assert data["qty"] == "0.01" and data["side"] == "buy"

    rc, out, _ = run(capsys, db, "order", "buy", "0.000001", "BTC/USDT", "--yes")
    assert rc == 1 and "REJECTED" in out
    rejection = _alerts(db)[-1]
    assert rejection["kind"] == "rejection" and rejection["channel"] == "telegram:42"
    assert "not a multiple of the lot size" in str(rejection["body"])

    rc, out, _ = run(capsys, db, "flatten", "BTC/USDT", "--yes")
    assert rc == 0 and "FILLED" in out
    closing = _alerts(db)[-1]
    assert closing["kind"] == "fill" and json.loads(str(closing["data"]))["side"] == "sell"


def test_cli_kill_switch_queues_critical_alerts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, telegram_config: Path
) -> None:
    db = tmp_path / "q.db"
    run(capsys, db, "order", "buy", "1", "ETH/USDT", "--limit", "3000", "--yes")
    assert _alerts(db) == []  # a resting order fills nothing
    rc, out, _ = run(capsys, db, "kill", "on")
    assert rc == 0 and "cancelled 1 open order" in out
    [kill] = _alerts(db)
    assert kill["kind"] == "risk" and kill["severity"] == "critical"
    assert kill["title"] == "Kill switch engaged" and kill["channel"] == "telegram:42"
    assert "1 working order(s) cancelled" in str(kill["body"])
    rc, out, _ = run(capsys, db, "order", "buy", "1", "ETH/USDT", "--yes")
    assert rc == 1 and "kill switch" in out
    assert _alerts(db)[-1]["kind"] == "rejection"
    rc, _, _ = run(capsys, db, "kill", "off")
    assert rc == 0
    released = _alerts(db)[-1]
    assert released["title"] == "Kill switch released" and released["kind"] == "risk"


def test_cli_alerts_need_a_configured_chat(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "q.db"
    run(capsys, db, "order", "buy", "0.01", "BTC/USDT", "--yes")
    run(capsys, db, "kill", "on")
    assert _alerts(db) == []


def test_a_stop_loss_on_the_wrong_side_is_refused_with_the_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "q.db"
    rc, out, _ = run(capsys, db, "order", "buy", "1000", "EURUSD", "--sl", "1.2", "--check")
    assert rc == 1 and out.startswith("refused: stop-loss 1.2 is above the entry 1.0")
    assert out.rstrip().endswith("of a buy: it would fire at once")
    rc, out, _ = run(capsys, db, "order", "buy", "1000", "EURUSD", "--sl", "1.2", "--yes")
    assert rc == 1 and "REJECTED" in out and "stop-loss 1.2 is above the entry" in out
    rc, out, _ = run(capsys, db, "order", "sell", "1000", "EURUSD", "--tp", "1.2", "--yes")
    assert rc == 1 and "take-profit 1.2 is above the entry" in out
    with Store(db) as store:
        assert store.fills.find() == [] and not [p for p in store.positions.find("paper") if p.qty]


def _flaky_submit(monkeypatch: pytest.MonkeyPatch, after: Callable[[], None]) -> None:
    """The venue takes the order, then ``after`` runs (the answer is lost, the store locks)."""
    from plugins.brokers.paper import PaperBroker

    real = PaperBroker.submit

    async def submit(self: PaperBroker, order: Any) -> Any:
        answer = await real(self, order)
        after()
        return answer

    monkeypatch.setattr(PaperBroker, "submit", submit)


def test_an_unknown_outcome_exits_3_and_the_retry_with_its_client_id_places_nothing_twice(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.protocols import BrokerUnavailable

    def lost() -> None:
        raise BrokerUnavailable("read timeout")

    db = tmp_path / "q.db"
    with monkeypatch.context() as m:
        _flaky_submit(m, lost)
        rc, out, err = run(
            capsys, db, "order", "buy", "0.01", "BTC/USDT", "--yes", "--client-id", "my-1"
        )
    assert rc == 3, (out, err)
    assert "outcome unknown" in err and "qws reconcile" in err and "--client-id my-1" in err
    rc, out, _ = run(capsys, db, "order", "buy", "0.01", "BTC/USDT", "--yes", "--client-id", "my-1")
    assert rc == 0 and out.startswith("my-1 FILLED") and "already placed" in out
    with Store(db) as store:
        assert [o.client_id for o in store.orders.find()] == ["my-1"]
        assert len(store.fills.find()) == 1
    rc, _, err = run(capsys, db, "order", "buy", "1", "BTC/USDT", "--client-id", "no spaces")
    assert rc == 2 and "--client-id" in err


class LockHolder:
    """Another process holding the database's write lock (BEGIN IMMEDIATE) until released."""

    SCRIPT = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE')\n"
        "print('LOCKED', flush=True)\n"
        "sys.stdin.read()\n"
        "c.execute('ROLLBACK')\n"
    )

    def __init__(self, db: Path) -> None:
        self.db = db
        self.proc: subprocess.Popen[str] | None = None

    def take(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT, str(self.db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "LOCKED"

    def release(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0


def test_a_store_locked_after_the_venue_answered_exits_3_and_the_retry_is_no_second_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workstation.cli import trade

    db = tmp_path / "q.db"
    real_open = trade.open_store

    def impatient(args: Any) -> Store:  # the store's 30 s busy timeout, shortened for the test
        store = real_open(args)
        store.conn.execute("PRAGMA busy_timeout = 200")
        return store

    monkeypatch.setattr(trade, "open_store", impatient)
    holder = LockHolder(db)
    with monkeypatch.context() as m:
        _flaky_submit(m, holder.take)
        rc, out, err = run(
            capsys, db, "order", "buy", "0.01", "BTC/USDT", "--yes", "--client-id", "lk-1"
        )
    try:
        assert rc == 3, (out, err)
        assert "Traceback" not in err and "database is locked" in err
        assert "qws reconcile" in err and "--client-id lk-1" in err
    finally:
        holder.release()
    with Store(db) as store:
        assert store.orders.get("lk-1").status.name == "SUBMITTING"  # type: ignore[union-attr]
    rc, out, _ = run(capsys, db, "order", "buy", "0.01", "BTC/USDT", "--yes", "--client-id", "lk-1")
    assert rc == 0 and out.startswith("lk-1 FILLED"), out
    with Store(db) as store:  # reconcile adopted the order the venue had; none was added
        assert [o.client_id for o in store.orders.find()] == ["lk-1"]
        assert len(store.fills.find()) == 1


def test_the_kill_switch_keeps_the_stop_loss_of_an_open_position_and_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "q.db"
    rc, out, _ = run(capsys, db, "order", "buy", "0.01", "BTC/USDT", "--sl", "1000", "--yes")
    assert rc == 0 and "FILLED" in out
    run(capsys, db, "order", "buy", "1", "ETH/USDT", "--limit", "3000", "--yes")
    rc, out, _ = run(capsys, db, "kill", "on")
    assert rc == 0 and "cancelled 1 open order(s); kept 1 protective order(s) working" in out
    rc, out, _ = run(capsys, db, "orders", "--open")
    [leg] = [line for line in out.splitlines() if "-sl " in line]
    assert "BTC/USDT" in leg and "OPEN" in leg
    run(capsys, db, "kill", "off")
    monkeypatch.setenv("QWS__RISK__KILL_FLATTENS", "true")
    rc, out, _ = run(capsys, db, "kill", "on")
    assert rc == 0 and "closed 1 position(s) at market" in out
    rc, out, _ = run(capsys, db, "positions")
    assert "no open positions" in out
    rc, out, _ = run(capsys, db, "orders", "--open")
    assert "no open orders" in out


def test_orders_and_flatten_read_the_symbol_as_the_command_bar_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "q.db"
    rc, out, err = run(capsys, db, "order", "buy", "0.1", "btc", "--yes")
    assert rc == 0 and "FILLED" in out, err
    assert "symbol: btc is BTC/USDT" in err
    rc, out, err = run(capsys, db, "order", "buy", "0.1", "btcusdt", "--yes")
    assert rc == 0 and "btcusdt is BTC/USDT" in err
    with Store(db) as store:
        [pos] = store.positions.find("paper")
        assert pos.symbol == "BTC/USDT" and str(pos.qty) == "0.2"
    rc, _, err = run(capsys, db, "order", "buy", "1", "e", "--yes")
    assert rc == 2 and "'e' is ambiguous: ETH/USDT, EURUSD" in err
    rc, _, err = run(capsys, db, "order", "buy", "1", "doge", "--yes")
    assert rc == 2 and "unknown symbol 'doge'; known: " in err and "BTC/USDT" in err
    rc, out, err = run(capsys, db, "flatten", "Btc/Usdt", "--yes")
    assert rc == 0 and "BTC/USDT sell 0.2 FILLED" in out
    with Store(db) as store:
        assert all(p.qty == 0 for p in store.positions.find("paper"))


def test_risk_is_in_the_account_currency(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "q.db"
    run(capsys, db, "order", "buy", "0.1", "BTC/USDT", "--yes")
    rc, out, _ = run(capsys, db, "risk", "--bars", "200")
    assert rc == 0
    usd = [line.split() for line in out.splitlines() if "VaR" in line or "exposure" in line]
    assert usd[0][0] == "BTC/USDT" and usd[0][-1] == "USD"
    assert [(row[4], row[7]) for row in usd[1:]] == [("USD", "USD"), ("USD", "USD")]

    monkeypatch.setenv("QWS__TRADING__ACCOUNT_CCY", "EUR")
    monkeypatch.setenv("QWS__TRADING__FX_PEGS", '{"USDT/USD" = 1.0, "EUR/USD" = 1.25}')
    rc, out, _ = run(capsys, db, "risk", "--bars", "200")
    eur = [line.split() for line in out.splitlines() if "VaR" in line or "exposure" in line]
    assert eur[0][-1] == "EUR" and [row[4] for row in eur[1:]] == ["EUR", "EUR"]

    def number(text: str) -> float:
        return float(text.replace(",", ""))

    # the same positions and bars: every figure is the USD one at 1 / 1.25 EUR per USD
    assert number(eur[0][2]) == pytest.approx(number(usd[0][2]) / 1.25, abs=0.01)
    assert number(eur[1][3]) == pytest.approx(number(usd[1][3]) / 1.25, abs=0.01)

    monkeypatch.setenv("QWS__TRADING__ACCOUNT_CCY", "CHF")
    rc, out, _ = run(capsys, db, "risk", "--bars", "200")
    assert rc == 0 and "left out BTC/USDT: no rate to CHF" in out
