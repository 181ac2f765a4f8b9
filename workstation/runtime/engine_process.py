"""The engine's worker process: one fresh interpreter that runs the engine's calls one at a time,
so native imports, numba compiles and Aer runs never hold the UI process's GIL.

The parent sends ``(fn, args)`` pickled over a socket pair and blocks (GIL released) until the
answer or the worker's death; before its answer a call may send :class:`Stage` messages (how
far a long call got: the warm-up's "importing qiskit") through :func:`report_stage`. ``fn``
travels by reference, so it must be a module-level function the worker can import. The worker
is a new interpreter started with ``subprocess`` (the app has threads, so never ``fork``), and
not ``multiprocessing``'s ``spawn``: that re-runs the parent's main script in the child, which
breaks any script without a ``__main__`` guard. It gets the parent's ``sys.path`` and
environment (less the secrets, plus a writable numba cache folder where numba would have none:
:func:`numba_cache_environ`), a null stdin, the parent's stderr (or ``output``) and a lower CPU
priority.

A worker that dies mid-call (segfault, OOM kill, ``kill -9``) fails that call with
:class:`EngineCrashed`; the next call starts a fresh worker. Calls come from one thread (the
engine thread of :mod:`workstation.runtime.engine_thread`); :meth:`EngineProcess.close` may
come from any.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:  # imported when a worker starts: the app imports this before its first frame
    from multiprocessing.connection import Connection

log = logging.getLogger(__name__)

_STOP = b""
"""Asks an idle worker to exit (no pickle is empty)."""

BOOT = """
import faulthandler, os, pickle, sys
from multiprocessing.connection import Connection
faulthandler.enable()
os.nice(int(sys.argv[2]))
conn = Connection(int(sys.argv[1]))
sys.path[:] = pickle.loads(conn.recv_bytes())
from workstation.runtime.engine_process import serve
serve(conn)
"""
"""The worker's first lines: only the standard library until it has the parent's sys.path. A
native crash prints its Python traceback (faulthandler) where the worker's stderr goes."""

_KEPT = ("QWS__", "QWS_CONFIG", "QWS_DB")
"""The ``QWS_`` variables a worker inherits: settings overrides and paths, not the secrets
(``QWS_<SERVICE>_<NAME>``, see :func:`workstation.runtime.secrets.env_name`)."""


KERNEL_DIRS = tuple(
    Path(__file__).resolve().parents[2] / "engine" / d for d in ("signals", "backtest")
)
"""The folders of the modules with ``@njit(cache=True)`` kernels."""


def worker_environ(environ: dict[str, str]) -> dict[str, str]:
    """``environ`` without the secrets: the engine needs none, so none crosses into it."""
    return {k: v for k, v in environ.items() if not k.startswith("QWS_") or k.startswith(_KEPT)}


def writable(folder: Path) -> bool:
    """Whether files can be written in ``folder`` (made if missing), the way numba checks."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def numba_cache_environ(
    environ: Mapping[str, str], kernel_dirs: Iterable[Path] = KERNEL_DIRS
) -> dict[str, str]:
    """``NUMBA_CACHE_DIR`` for a worker whose numba would find nowhere to cache its kernels, else
    nothing. numba tries ``NUMBA_CACHE_DIR``, then ``__pycache__`` beside each module, then the
    user's cache folder; with none writable (a read-only install and home), a ``cache=True``
    kernel does not compile at all. The fallback is a folder in the temporary directory."""
    given = environ.get("NUMBA_CACHE_DIR")
    if given and writable(Path(given)):
        return {}
    if all(writable(d / "__pycache__") for d in kernel_dirs):
        return {}
    home = Path(environ.get("HOME", "~")).expanduser()
    if writable(Path(environ.get("XDG_CACHE_HOME") or home / ".cache") / "numba"):
        return {}
    fallback = Path(tempfile.gettempdir()) / f"qws-numba-{os.getuid()}"
    if not writable(fallback):
        log.warning("numba can cache its kernels nowhere: each engine start compiles them")
        return {}
    log.info("numba's cache folders are read-only: kernels are cached in %s", fallback)
    return {"NUMBA_CACHE_DIR": str(fallback)}


class EngineError(RuntimeError):
    """The engine worker could not run a call (not an error raised by the call itself)."""


class EngineCrashed(EngineError):
    """The engine worker process died during a call (a native crash, killed, out of memory)."""


class EngineStopped(EngineError):
    """The engine was shut down (the app is exiting) before or while the call ran."""


@dataclass(frozen=True, slots=True)
class Stage:
    """How far the running call got (``"importing qiskit"``), sent before its answer."""

    text: str


_caller: Connection | None = None
"""In a worker, the connection of the call it runs (None in any other process)."""


def report_stage(text: str) -> bool:
    """Send the caller of the running call a :class:`Stage`; False when not in a worker."""
    conn = _caller
    if conn is None:
        return False
    conn.send_bytes(pickle.dumps(Stage(text), protocol=pickle.HIGHEST_PROTOCOL))
    return True


def serve(conn: Connection) -> None:
    """The worker's loop: one call at a time, answered ``(True, result)`` or ``(False, exc)``
    after any number of :class:`Stage` messages.

    SIGINT is ignored: a ^C in the terminal reaches the whole process group, and the parent
    decides when the worker stops (it exits when asked, or when the parent's end closes)."""
    global _caller
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _caller = conn
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if message == _STOP:
            return
        conn.send_bytes(_answer(message))


def _answer(message: bytes) -> bytes:
    try:
        fn, args = pickle.loads(message)
        reply: tuple[bool, Any] = (True, fn(*args))
    except BaseException as exc:  # every failure goes back to the caller
        reply = (False, _with_trace(exc))
    try:
        return pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an unpicklable result or exception
        what = "result" if reply[0] else f"exception {reply[1]!r}"
        error = EngineError(f"the engine call's {what} cannot be sent back: {exc!r}")
        return pickle.dumps((False, _with_trace(error)), protocol=pickle.HIGHEST_PROTOCOL)


def _with_trace(exc: BaseException) -> BaseException:
    exc.add_note("in the engine worker process:\n" + "".join(traceback.format_exception(exc)))
    return exc


@dataclass(slots=True)
class _Worker:
    proc: subprocess.Popen[bytes]
    conn: Connection
    pidfd: int | None
    """Readable once the process has exited (Linux); else its death shows as the socket's EOF."""

    @property
    def sentinels(self) -> list[Any]:
        return [self.conn] if self.pidfd is None else [self.conn, self.pidfd]

    def exited(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def release(self) -> None:
        self.conn.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None

    def how(self) -> str:
        code = self.proc.returncode
        return f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"


class EngineProcess:
    """One worker process at a time, started on the first call and after a crash."""

    def __init__(self, output: str | None = None, nice: int = 10) -> None:
        self.output = output
        """A file the worker's stdout and stderr append to (None: this process's stderr)."""
        self.nice = nice
        """Added to the worker's niceness: where CPUs are short, the UI loop runs first (the
        worker's start-up and first run take seconds of CPU)."""
        self._worker: _Worker | None = None
        self._lock = threading.Lock()
        self._busy = False
        self._closed = False
        self.starts = 0
        self.crashes = 0

    @property
    def pid(self) -> int | None:
        """The live worker's pid, or None when none is running."""
        worker = self._worker
        return worker.proc.pid if worker is not None and worker.proc.poll() is None else None

    def _live(self) -> _Worker:
        if self._closed:
            raise EngineStopped("the engine was shut down")
        if self._worker is not None and self._worker.proc.poll() is not None:
            self._reap(self._worker)
        if self._worker is None:
            self._worker = self._start()
        return self._worker

    def call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        on_stage: Callable[[str], None] | None = None,
    ) -> Any:
        """``fn(*args)`` in the worker; blocks this thread (not the GIL) until it answers.
        ``on_stage`` gets, on this thread, each stage the call reports before its answer.
        A ``fn`` or an argument that does not pickle raises here, and nothing is sent."""
        message = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            worker = self._live()
            self._busy = True
        try:
            return self._exchange(worker, message, on_stage)
        finally:
            with self._lock:
                self._busy = False

    def _exchange(
        self, worker: _Worker, message: bytes, on_stage: Callable[[str], None] | None
    ) -> Any:
        try:
            worker.conn.send_bytes(message)
        except OSError:
            self._lost(worker)
        while True:
            reply = self._receive(worker)
            if not isinstance(reply, Stage):
                break
            if on_stage is not None:
                try:
                    on_stage(reply.text)
                except Exception:  # the caller's listener: its failure is not the call's
                    log.exception("reporting the engine's stage %r failed", reply.text)
        ok, value = reply
        if ok:
            return value
        raise value

    def _receive(self, worker: _Worker) -> Any:
        from multiprocessing.connection import wait

        try:
            wait(worker.sentinels)
            answer = worker.conn.recv_bytes() if worker.conn.poll() else None
        except (EOFError, OSError):
            answer = None
        if answer is None:
            self._lost(worker)
        try:
            return pickle.loads(answer or b"")
        except Exception as exc:  # e.g. an exception whose constructor does not unpickle
            raise EngineError(f"the engine call's answer cannot be read: {exc!r}") from exc

    def _lost(self, worker: _Worker) -> NoReturn:
        if worker.exited(5.0) is None:  # its socket broke, yet it runs: end it
            worker.proc.kill()
            worker.exited(5.0)
        worker.release()
        with self._lock:
            if self._worker is worker:
                self._worker = None
            closed = self._closed
        if closed:
            raise EngineStopped("the engine was shut down while the call ran")
        self.crashes += 1
        log.error(
            "the engine worker (pid %s) died during a call: %s", worker.proc.pid, worker.how()
        )
        raise EngineCrashed(
            f"the engine worker process (pid {worker.proc.pid}) died during the call"
            f" ({worker.how()}); the next call starts a fresh one"
        )

    def _reap(self, worker: _Worker) -> None:
        """Forget a worker that died between calls (killed while idle)."""
        worker.exited(5.0)
        worker.release()
        self._worker = None
        self.crashes += 1
        log.error("the engine worker (pid %s) died while idle: %s", worker.proc.pid, worker.how())

    def _start(self) -> _Worker:
        import socket
        from multiprocessing.connection import Connection

        out: IO[bytes] | None = None
        if self.output is not None:
            Path(self.output).parent.mkdir(parents=True, exist_ok=True)
            out = open(self.output, "ab")  # noqa: SIM115 - closed once the worker has it
        env = worker_environ(dict(os.environ))
        env.update(numba_cache_environ(env, KERNEL_DIRS))
        ours, theirs = socket.socketpair()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", BOOT, str(theirs.fileno()), str(self.nice)],
                stdin=subprocess.DEVNULL,
                stdout=out if out is not None else sys.__stderr__,
                stderr=out if out is not None else sys.__stderr__,
                pass_fds=(theirs.fileno(),),
                env=env,
            )
        finally:
            theirs.close()
            if out is not None:
                out.close()
        conn = Connection(ours.detach())
        try:
            pidfd: int | None = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            pidfd = None
        worker = _Worker(proc, conn, pidfd)
        conn.send_bytes(pickle.dumps(list(sys.path)))
        self.starts += 1
        log.info("engine worker started (pid %s)", proc.pid)
        return worker

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker: an idle one is asked to exit; a busy one, or one that does not exit
        within a second, is terminated, then killed after ``timeout``. The call in flight, and
        every later one, raises :class:`EngineStopped`. Returns once the worker is gone."""
        with self._lock:
            self._closed = True
            worker, busy = self._worker, self._busy
            if not busy:
                self._worker = None
        if worker is None:
            return
        if not busy:
            with contextlib.suppress(OSError):
                worker.conn.send_bytes(_STOP)
        if busy or worker.exited(1.0) is None:
            worker.proc.terminate()
            if worker.exited(timeout) is None:
                worker.proc.kill()
                worker.proc.wait()
        if not busy:  # a busy worker's socket is the engine thread's to release
            worker.release()
