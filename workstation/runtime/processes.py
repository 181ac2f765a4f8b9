"""Which process is this, and is another one still running.

Several processes share one account (the workstation and a ``qws order`` command): an order
one of them is submitting must not be settled by another as "never reached the venue" while
the submit is still under way. The order row names its submitting process; this module says
whether that process is alive.
"""

from __future__ import annotations

import os
import sys


def this_process() -> str:
    """A token for the running process (asked each time: a forked child is another process)."""
    return str(os.getpid())


def is_running(token: str) -> bool:
    """Whether the process named by ``token`` (from :func:`this_process`) is still running.
    A token that is not a pid counts as gone."""
    try:
        pid = int(token)
    except ValueError:
        return False
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _running_on_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _running_on_windows(pid: int) -> bool:
    """``os.kill`` would terminate the process on Windows: ask the kernel instead."""
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    synchronize, query_limited, wait_timeout = 0x00100000, 0x1000, 0x102
    handle = kernel32.OpenProcess(synchronize | query_limited, False, pid)
    if not handle:
        return False
    try:
        return bool(kernel32.WaitForSingleObject(handle, 0) == wait_timeout)
    finally:
        kernel32.CloseHandle(handle)
