"""One table of orders, one verdict everywhere: the order manager's preview, the ticket's check
as the app wires it, ``qws order --check``, Telegram's preview and the submit itself all give
the same answer (ok, and the same reason word for word), because they all ask
:meth:`OrderManager.preview`.

A real store on a file, the real paper broker, the runtime opened as the app opens it, and the
CLI run in-process on the same database and config.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.model import Order, OrderStatus, OrderType, Side
from feeds.demo import DemoFeed
from plugins.brokers.paper import PaperBroker
from workstation.cli import main
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.trader.runtime import Runtime

SYMBOL = "BTC/USDT"  # demo: tick 0.01, lot 0.00001; the market is near 64,000
CONFIG = """
[risk]
max_order_notional = 50000
max_orders_per_minute = 3
daily_loss_limit = 0
[telegram]
chat_ids = [42]
"""


class LivePaper(PaperBroker):
    """The paper broker, claiming to be a live account: trading.live stays off."""

    live = True


async def _place_resting(runtime: Runtime, n: int) -> None:
    for _ in range(n):
        order = runtime.build(SYMBOL, Side.BUY, "0.01", "50000")
        placed = await runtime.submit(order)
        assert placed.status is OrderStatus.OPEN, placed.reason


async def _engage_kill(runtime: Runtime, n: int) -> None:
    await runtime.set_kill(True, "test", "drill")


@dataclass(frozen=True)
class Case:
    name: str
    qty: str
    price: str
    ok: bool
    reason: str  # a fragment of the one reason every path must give word for word
    setup: Callable[[Runtime, int], Awaitable[None]] | None = None
    live: bool = False


CASES = [
    Case("ok", "0.01", "60000", True, ""),
    Case("over_max_order_notional", "1", "60000", False, "order notional 60,000.00 exceeds"),
    Case("off_the_lot_grid", "0.000015", "60000", False, "not a multiple of the lot size"),
    Case("off_the_tick_grid", "0.01", "60000.005", False, "not a multiple of the tick size"),
    Case(
        "order_rate_exceeded",
        "0.01",
        "60000",
        False,
        "3 orders in the last minute (limit 3)",
        setup=_place_resting,
    ),
    Case("kill_switch_on", "0.01", "60000", False, "kill switch is on", setup=_engage_kill),
    Case("live_trading_off", "0.01", "60000", False, "live trading is off", live=True),
]


@pytest.fixture
async def world(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Runtime, Path]]:
    """The runtime opened on a fresh store, with the case's setup done."""
    config = tmp_path / "qws.toml"
    config.write_text(CONFIG)
    monkeypatch.setenv("QWS_CONFIG", str(config))
    if case.live:
        # the runtime and the CLI both build their broker through the broker factory
        monkeypatch.setattr(
            "workstation.trading.broker_factory.broker_class", lambda _name: LivePaper
        )
    db = tmp_path / "q.db"
    store = Store(db)
    runtime = Runtime(
        DemoFeed(),
        store,
        Settings.load(),
        [SYMBOL],
        "1m",
        db_path=db,
        signals=False,
        telegram=False,
    )
    await runtime.open()  # broker + order manager, no feed
    assert runtime.oms is not None, runtime.broker_error
    assert bool(getattr(runtime.oms.broker, "live", False)) is case.live
    if case.setup is not None:
        await case.setup(runtime, 3)
    try:
        yield runtime, db
    finally:
        await runtime.shutdown()
        store.close()


def ticket_check(runtime: Runtime) -> Callable[[Order], tuple[bool, str]]:
    """The order ticket's ``risk_check``, wired as the app wires it."""

    def check(order: Order) -> tuple[bool, str]:
        verdict = runtime.preview(order)
        return verdict.ok, verdict.reason

    return check


def cli_check(capsys: pytest.CaptureFixture[str], db: Path, case: Case) -> tuple[bool, str]:
    capsys.readouterr()
    argv = ["--db", str(db), "order", "buy", case.qty, SYMBOL, "--limit", case.price, "--check"]
    rc = main(argv)
    captured = capsys.readouterr()
    out = captured.out.strip()
    assert rc in (0, 1), captured.err
    if rc == 0:
        assert out == "risk: OK"
        return True, ""
    assert out.startswith("refused: "), out
    return False, out.removeprefix("refused: ")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_one_order_one_verdict_everywhere(
    case: Case, world: tuple[Runtime, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    runtime, db = world
    oms = runtime.oms
    assert oms is not None
    order = oms.build(SYMBOL, Side.BUY, case.qty, OrderType.LIMIT, price=case.price)

    verdicts: dict[str, tuple[bool, str]] = {}
    decision = oms.preview(order)
    verdicts["oms.preview"] = (decision.ok, decision.reason)
    verdicts["ticket"] = ticket_check(runtime)(order)
    verdicts["cli --check"] = await asyncio.to_thread(cli_check, capsys, db, case)
    refusal = runtime.telegram_preview("buy", SYMBOL, Decimal(case.qty), Decimal(case.price))
    verdicts["telegram"] = (refusal == "", refusal)
    placed = await oms.submit(order)
    if placed.status is OrderStatus.REJECTED:
        verdicts["submit"] = (False, placed.reason)
    else:
        assert placed.status is OrderStatus.OPEN  # a limit below the market rests
        verdicts["submit"] = (True, placed.reason)

    expected = verdicts["oms.preview"]
    assert expected[0] is case.ok and case.reason in expected[1], expected
    mismatched: dict[str, Any] = {k: v for k, v in verdicts.items() if v != expected}
    assert mismatched == {}, f"expected {expected} everywhere"
    stored = runtime.store.orders.get(order.client_id)
    assert stored is not None and (stored.status is OrderStatus.REJECTED) is (not case.ok)
