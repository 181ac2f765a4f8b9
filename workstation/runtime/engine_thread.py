"""One thread for the engine's heavy calls (numba kernels, qiskit-aer runs, scans, backtests),
and optionally one worker process behind it.

Serialising them is deliberate: numba's LLVM and qiskit's native code crashed this process
(segfault in ``QuantumCircuit.__init__``) when an overlay and a QPE run started in two thread
workers at once, during their first imports. One long-lived thread also keeps numba's and Aer's
warm state in one place, and the UI thread never waits for any of it.

Run on a thread, the engine still holds the process's GIL: its first call imports qiskit and
numba's caches (on a fresh clone it compiles numba kernels for seconds), native work that holds
the GIL 100-250 ms at a time and stalls the Textual loop while quotes stream. The app therefore
calls :func:`use_process`: the same thread then hands each call, in order, to one long-lived
worker process (:mod:`workstation.runtime.engine_process`) and waits with the GIL released.
``fn``, its arguments and its result must then pickle (``fn`` a module-level function). A worker
that dies fails its call with :class:`EngineCrashed` and the next call starts a fresh one.
One-shot commands and headless use keep the thread (a worker's start-up buys them nothing),
unless they call :func:`use_process` too; :func:`shutdown_engine` stops the worker.
``QWS_ENGINE=thread`` in the environment keeps the thread even then (a debugger in the engine,
a test run that would rather not start a worker per app).

A long call tells its caller how far it got with :func:`report_stage` (the warm-up's "importing
qiskit"), on the thread or from the worker; ``run_engine(..., on_stage=...)`` hears each stage
on the caller's loop.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from workstation.runtime import engine_process
from workstation.runtime.engine_process import (
    EngineCrashed,
    EngineError,
    EngineProcess,
    EngineStopped,
)

__all__ = [
    "EngineCrashed",
    "EngineError",
    "EngineStopped",
    "engine_pid",
    "in_process",
    "report_stage",
    "run_engine",
    "shutdown_engine",
    "use_process",
]

T = TypeVar("T")

_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qws-engine")
_process: EngineProcess | None = None
_switch = threading.Lock()
_listener = threading.local()
"""The stage listener of the call running on the engine thread (its ``on_stage``)."""


async def run_engine(
    fn: Callable[..., T], *args: Any, on_stage: Callable[[str], None] | None = None
) -> T:
    """Run ``fn(*args)`` on the engine thread (in the worker process after :func:`use_process`)
    and wait for it without blocking the loop. Calls run one at a time, in the order made.
    ``on_stage`` is called on this loop with each stage ``fn`` reports (:func:`report_stage`)."""
    loop = asyncio.get_running_loop()
    relay = None if on_stage is None else _on_loop(loop, on_stage)
    target = _process
    if target is None:
        return await loop.run_in_executor(_EXECUTOR, _on_thread, relay, fn, args)
    result: T = await loop.run_in_executor(_EXECUTOR, target.call, fn, args, relay)
    return result


def report_stage(text: str) -> None:
    """Tell the caller of the running engine call how far it got (nothing when none listens)."""
    if engine_process.report_stage(text):
        return
    listener: Callable[[str], None] | None = getattr(_listener, "on_stage", None)
    if listener is not None:
        listener(text)


def in_process() -> bool:
    """Whether engine calls run in the worker process (else on the thread, holding the GIL)."""
    return _process is not None


def _on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[str], None]) -> Callable[[str], None]:
    def relay(text: str) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: no one is waiting any more
            loop.call_soon_threadsafe(fn, text)

    return relay


def _on_thread(
    on_stage: Callable[[str], None] | None, fn: Callable[..., T], args: tuple[Any, ...]
) -> T:
    _listener.on_stage = on_stage
    try:
        return fn(*args)
    finally:
        _listener.on_stage = None


def use_process(output: str | None = None) -> None:
    """Run later engine calls in one worker process, started on the first of them. ``output``:
    a file the worker's stdout and stderr append to (by default it shares this process's
    stderr). Calling it again while a worker is in use changes nothing; with ``QWS_ENGINE=thread``
    in the environment, neither does the first call."""
    global _process
    if os.environ.get("QWS_ENGINE") == "thread":
        return
    with _switch:
        if _process is None:
            _process = EngineProcess(output=output)


def shutdown_engine(timeout: float = 5.0) -> None:
    """Stop the worker process, if any (a call in flight raises :class:`EngineStopped`), and
    run later calls on the thread again. Returns once the worker has exited: no orphan."""
    global _process
    with _switch:
        process, _process = _process, None
    if process is not None:
        process.close(timeout)


def engine_pid() -> int | None:
    """The worker process's pid while one runs (None on the thread, or before the first call)."""
    process = _process
    return process.pid if process is not None else None


atexit.register(shutdown_engine)  # after multiprocessing's own hook, so it runs before it
