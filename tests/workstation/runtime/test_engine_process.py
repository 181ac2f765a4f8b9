"""The engine's worker process (``use_process``): calls run there one at a time and in order,
errors come back as themselves, a killed worker fails its call and is replaced, shutdown and
exit leave no process behind. Functions sent to the worker are the standard library's or the
engine's (never this module's, which the worker need not import)."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.backtest.backtester import BacktestError
from engine.signals.cycles import CycleInputError, detect_cycles
from engine.timeframes import OHLCV_SCHEMA
from workstation.runtime import engine_process, engine_thread
from workstation.runtime.engine_process import numba_cache_environ
from workstation.runtime.engine_thread import (
    EngineCrashed,
    EngineStopped,
    engine_pid,
    run_engine,
    shutdown_engine,
    use_process,
)
from workstation.runtime.engine_warmup import STAGES, warm_up
from workstation.strategies.discovery import StrategyNotFound
from workstation.trader.signal_pipeline import scan_frames

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def process_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("QWS_ENGINE", raising=False)
    use_process()
    try:
        yield
    finally:
        pid = engine_pid()
        shutdown_engine()
        assert engine_pid() is None
        if pid is not None:
            assert not _alive(pid)


def _alive(pid: int) -> bool:
    """Running (a zombie no one has reaped yet, as under a container's init, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def _worker_pid() -> int:
    await run_engine(os.getpid)  # the worker starts on the first call
    pid = engine_pid()
    assert pid is not None
    return pid


async def test_calls_run_in_one_worker_process_one_at_a_time_in_order() -> None:
    pids = await asyncio.gather(*(run_engine(os.getpid) for _ in range(3)))
    assert len(set(pids)) == 1 and pids[0] != os.getpid() and pids[0] == engine_pid()
    before = time.monotonic()
    _, after = await asyncio.gather(run_engine(time.sleep, 0.3), run_engine(time.monotonic))
    assert after >= before + 0.3  # the second started once the first had finished


async def test_an_error_raised_by_the_call_comes_back_as_itself_with_the_workers_trace() -> None:
    with pytest.raises(ValueError, match="invalid literal") as raised:
        await run_engine(int, "x")
    assert "in the engine worker process" in "".join(raised.value.__notes__)
    with pytest.raises(CycleInputError, match="power of two"):
        await run_engine(detect_cycles, np.ones(100), 63)
    assert await run_engine(os.getpid) == engine_pid()  # the worker lives on


@pytest.mark.parametrize(
    "error", [CycleInputError("short"), BacktestError("no bars"), StrategyNotFound("nope")]
)
def test_the_errors_callers_catch_cross_the_process_boundary(error: Exception) -> None:
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and back.args == error.args


async def test_arguments_that_do_not_pickle_fail_the_call_and_send_nothing() -> None:
    pid = await _worker_pid()
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        await run_engine(lambda: 1)
    with pytest.raises(TypeError):
        await run_engine(len, asyncio.Event())  # a lock inside: cannot pickle
    assert await run_engine(os.getpid) == pid


async def test_a_killed_worker_fails_its_call_is_logged_and_the_next_call_starts_a_fresh_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pid = await _worker_pid()
    call = asyncio.ensure_future(run_engine(time.sleep, 60))
    await asyncio.sleep(0.2)  # it is running in the worker
    os.kill(pid, signal.SIGKILL)
    with caplog.at_level(logging.ERROR), pytest.raises(EngineCrashed, match="signal 9"):
        await call
    assert any("died during a call" in r.getMessage() for r in caplog.records)
    assert not _alive(pid)
    fresh = await run_engine(os.getpid)
    assert fresh not in (pid, os.getpid()) and fresh == engine_pid()


async def test_a_native_crash_in_the_worker_is_a_crashed_call_not_a_dead_app() -> None:
    pid = await _worker_pid()
    with pytest.raises(EngineCrashed, match="signal 11"):
        await run_engine(ctypes.string_at, 0)  # reads address 0: a segfault
    assert not _alive(pid)
    assert await run_engine(os.getpid) not in (pid, os.getpid())


async def test_the_workers_output_can_go_to_a_file(tmp_path: Path) -> None:
    shutdown_engine()
    log_file = tmp_path / "logs" / "engine.log"
    use_process(output=str(log_file))
    await run_engine(print, "from the worker")
    shutdown_engine()
    assert log_file.read_text() == "from the worker\n"


async def test_no_secret_from_the_environment_reaches_the_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QWS_TELEGRAM_TOKEN", "123:secret")
    monkeypatch.setenv("QWS__SIGNALS__QUALITY_GATE", "0.5")
    shutdown_engine()
    use_process()  # a worker started now, with this environment
    assert await run_engine(os.getenv, "QWS_TELEGRAM_TOKEN") is None
    assert await run_engine(os.getenv, "QWS__SIGNALS__QUALITY_GATE") == "0.5"
    assert await run_engine(os.getenv, "HOME") == os.environ["HOME"]


async def test_a_worker_killed_between_calls_is_replaced_on_the_next_call() -> None:
    pid = await _worker_pid()
    os.kill(pid, signal.SIGKILL)
    while _alive(pid) and engine_pid() is not None:
        await asyncio.sleep(0.01)
    fresh = await run_engine(os.getpid)
    assert fresh not in (pid, os.getpid())


async def test_shutdown_stops_an_idle_worker_and_calls_run_on_the_thread_again() -> None:
    pid = await _worker_pid()
    shutdown_engine()
    assert not _alive(pid) and engine_pid() is None
    assert await run_engine(os.getpid) == os.getpid()


async def test_shutdown_ends_a_busy_worker_without_waiting_for_its_call() -> None:
    pid = await _worker_pid()
    call = asyncio.ensure_future(run_engine(time.sleep, 600))
    await asyncio.sleep(0.2)
    shutdown_engine()
    assert not _alive(pid)
    with pytest.raises(EngineStopped):
        await call


async def test_the_scan_gives_the_same_signals_in_the_worker_as_on_the_thread() -> None:
    frame = _bars(400)
    settings = {"quality_gate": 0.0, "open_threshold": 0.0}
    args = ({"SYM": frame}, "1m", settings, "statevector")
    in_worker = await run_engine(scan_frames, *args)
    shutdown_engine()
    on_thread = await run_engine(scan_frames, *args)
    assert in_worker == on_thread


async def test_a_backtest_gives_the_same_result_in_the_worker_as_on_the_thread() -> None:
    from workstation.ui.screens.backtest import _run, strategy_names

    name = strategy_names()[0]
    args = (name, {}, _bars(400, step_s=86_400), (100_000.0, 1.0, 0.0), "SYM")
    in_worker = await run_engine(_run, *args)
    shutdown_engine()
    on_thread = await run_engine(_run, *args)
    assert in_worker.stats.keys() == on_thread.stats.keys()
    for key, value in in_worker.stats.items():  # nan where undefined (no losing trade...)
        other = on_thread.stats[key]
        assert value == other or (value != value and other != other)
    assert in_worker.trades.equals(on_thread.trades)
    assert np.array_equal(in_worker.equity, on_thread.equity)


def _bars(n: int, step_s: int = 60) -> pl.DataFrame:
    rng = np.random.default_rng(5)
    t = np.arange(n)
    close = 100 + 5 * np.sin(2 * np.pi * t / 16) + np.cumsum(rng.normal(0, 0.3, n))
    open_ = np.concatenate(([close[0]], close[:-1]))
    return pl.DataFrame(
        {
            "ts": 1_700_000_000_000_000_000 + step_s * 1_000_000_000 * t.astype(np.int64),
            "open": open_,
            "high": np.maximum(open_, close) + 0.2,
            "low": np.minimum(open_, close) - 0.2,
            "close": close,
            "volume": np.ones(n),
        },
        schema=OHLCV_SCHEMA,
    )


EXITS_WITHOUT_SHUTDOWN = """
import asyncio, os
from workstation.runtime.engine_thread import engine_pid, run_engine, use_process
use_process()
asyncio.run(run_engine(os.getpid))
print(engine_pid(), flush=True)
"""

KILLED_WITH_A_WORKER = """
import asyncio, os, time
from workstation.runtime.engine_thread import engine_pid, run_engine, use_process
use_process()
asyncio.run(run_engine(os.getpid))
print(engine_pid(), flush=True)
time.sleep(600)
"""


def test_a_process_that_exits_without_shutdown_leaves_no_worker() -> None:
    """An unguarded script (no ``__main__`` check) too: the worker never runs the parent's
    main module."""
    out = subprocess.run(
        [sys.executable, "-c", EXITS_WITHOUT_SHUTDOWN],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=True,
    )  # fmt: skip
    assert not _alive(int(out.stdout.split()[-1]))


def test_a_worker_whose_parent_is_killed_exits() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", KILLED_WITH_A_WORKER], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def test_the_thread_is_the_default_engine() -> None:
    shutdown_engine()
    assert engine_thread._process is None
    assert asyncio.run(run_engine(os.getpid)) == os.getpid()


def test_qws_engine_thread_keeps_the_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    shutdown_engine()
    monkeypatch.setenv("QWS_ENGINE", "thread")
    use_process()
    assert asyncio.run(run_engine(os.getpid)) == os.getpid() and engine_pid() is None


@pytest.mark.parametrize("where", ["worker", "thread"])
async def test_a_call_s_stages_reach_its_caller_on_the_loop_in_order_before_its_answer(
    where: str,
) -> None:
    if where == "thread":
        shutdown_engine()
    loop_thread = threading.get_ident()
    seen: list[tuple[str, bool]] = []

    def on_stage(text: str) -> None:
        seen.append((text, threading.get_ident() == loop_thread))

    timings = await run_engine(warm_up, 16, "statevector", 256, on_stage=on_stage)
    assert seen == [(stage, True) for stage in STAGES]
    assert [name for name, _ in timings] == list(STAGES)
    assert all(seconds >= 0 for _, seconds in timings)
    assert (engine_pid() is not None) == (where == "worker")
    assert await run_engine(os.getpid) == (engine_pid() or os.getpid())  # the next call works


async def test_the_warm_up_loads_qiskit_the_kernel_the_template_and_the_callers_modules() -> None:
    # ``eval`` travels to the worker by reference: it reads the worker's own state
    module = "engine.backtest.performance"
    loaded = f"[m in __import__('sys').modules for m in ('qiskit_aer', 'numba', {module!r})]"
    assert await run_engine(eval, loaded) == [False, False, False]
    await run_engine(warm_up, 32, "statevector", 256, (module,))
    assert await run_engine(eval, loaded) == [True, True, True]
    encoder = "__import__('engine.signals.encoding', fromlist=['_'])._kernel.cache_info()[3]"
    assert await run_engine(eval, encoder) == 1  # compiled (or loaded from numba's cache)
    templates = "__import__('engine.signals.qpe', fromlist=['_'])._build_template.cache_info()[3]"
    assert await run_engine(eval, templates) >= 1  # the scan's n=5 QPE template


async def test_a_stage_listener_that_fails_does_not_fail_the_call() -> None:
    def broken(text: str) -> None:
        raise RuntimeError(f"listener broke at {text}")

    timings = await run_engine(warm_up, 16, "statevector", 256, on_stage=broken)
    assert [name for name, _ in timings] == list(STAGES)


async def test_a_worker_that_dies_after_reporting_a_stage_fails_its_call() -> None:
    pid = await _worker_pid()
    with pytest.raises(EngineCrashed, match="signal 9"):
        await run_engine(
            warm_up, 16, "statevector", 256, on_stage=lambda _: os.kill(pid, signal.SIGKILL)
        )
    assert not _alive(pid)
    assert await run_engine(os.getpid) not in (pid, os.getpid())


def test_numba_keeps_its_own_cache_folders_when_one_is_writable(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    kernels = [tmp_path / "signals", tmp_path / "backtest"]
    home = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(blocked / "cache")}
    assert numba_cache_environ({**home, "NUMBA_CACHE_DIR": str(tmp_path / "nc")}, kernels) == {}
    assert numba_cache_environ({**home, "NUMBA_CACHE_DIR": str(blocked / "nc")}, kernels) == {}
    assert (tmp_path / "signals" / "__pycache__").is_dir()  # numba's own place, beside the code
    beside_blocked = [blocked / "signals"]
    assert numba_cache_environ({"XDG_CACHE_HOME": str(tmp_path / "c")}, beside_blocked) == {}


def test_numba_gets_a_temporary_cache_folder_when_none_of_its_own_is_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    environ = {"NUMBA_CACHE_DIR": str(blocked / "nc"), "XDG_CACHE_HOME": str(blocked / "c")}
    fallback = tmp_path / f"qws-numba-{os.getuid()}"
    assert numba_cache_environ(environ, [blocked / "signals"]) == {"NUMBA_CACHE_DIR": str(fallback)}
    assert fallback.is_dir()
    monkeypatch.setattr(tempfile, "tempdir", str(blocked))
    assert numba_cache_environ(environ, [blocked / "signals"]) == {}  # nowhere at all: as before


async def test_a_worker_whose_numba_has_nowhere_to_cache_caches_in_the_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutdown_engine()
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setattr(engine_process, "KERNEL_DIRS", (blocked / "signals",))
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked / "cache"))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    use_process()
    fallback = tmp_path / f"qws-numba-{os.getuid()}"
    cache_dir = "__import__('os').environ.get('NUMBA_CACHE_DIR')"
    assert await run_engine(eval, cache_dir) == str(fallback)
    await run_engine(warm_up, 16, "statevector", 256)
    assert any(fallback.rglob("*encode_kernel*.nbi"))  # the encoder's kernel, cached there


def test_the_engine_modules_the_first_frame_imports_do_not_import_numpy() -> None:
    probe = (
        "import sys\n"
        "import workstation.runtime.engine_thread, workstation.runtime.engine_warmup\n"
        "print(sorted(m for m in ('numpy', 'qiskit', 'numba') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
