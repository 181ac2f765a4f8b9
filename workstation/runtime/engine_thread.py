"""One thread for the engine's heavy calls (numba kernels, qiskit-aer runs, scans, backtests).

Serialising them is deliberate: numba's LLVM and qiskit's native code crashed this process
(segfault in ``QuantumCircuit.__init__``) when an overlay and a QPE run started in two thread
workers at once, during their first imports. One long-lived thread also keeps numba's and Aer's
warm state in one place, and the UI thread never waits for any of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qws-engine")


async def run_engine(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` on the engine thread and wait for it without blocking the loop."""
    return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, fn, *args)
