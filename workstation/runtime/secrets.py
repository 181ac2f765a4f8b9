"""Secrets (API keys, tokens): the OS keyring first, then the environment, never SQLite or logs.

``get_secret("binance", "api_key")`` reads keyring service ``qws:binance``, entry ``api_key``;
on headless machines without a keyring it falls back to ``QWS_BINANCE_API_KEY``. The Telegram
bot token is ``get_secret("telegram", "token")`` (``QWS_TELEGRAM_TOKEN``).

Every value read or written here is registered (:func:`protect`) in one process-wide set of
known secrets, and :func:`redact` replaces each with ``***`` in any letter case and
URL-encoded. That one function is applied wherever text leaves the process or is stored: a
logging record factory (message, arguments, exception text of every record: python-telegram-bot
puts the token in its URLs), the uncaught-exception hooks, the CLI's stdout and stderr
(:func:`redacted_output`), and the store's write path for free text (order reasons, audit
details, alert texts and errors), so a venue or proxy that echoes a key in an error body cannot
carry it into SQLite. The store asks this module, never the keyring.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

MASK = "***"


class SecretMissing(LookupError):
    """No secret under that name; the message says where it was looked for, not any value."""


class SecretsError(RuntimeError):
    """A secret could not be stored (no usable keyring, empty value)."""


def env_name(service: str, name: str) -> str:
    return "QWS_" + re.sub(r"[^A-Z0-9]+", "_", f"{service}_{name}".upper()).strip("_")


def keyring_service(service: str) -> str:
    return f"qws:{service}"


# -- redaction ------------------------------------------------------------------------------
_known: set[str] = set()
_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None
_installed = False


def _spellings(value: str) -> set[str]:
    """How a secret shows up in text: as is and URL-encoded (in a request line or query).
    Case is ignored when matching (python-telegram-bot capitalises error descriptions,
    gateways lower-case what they echo), which also covers ``%3a`` for ``%3A``."""
    return {value, quote(value, safe=""), quote(value), quote_plus(value)}


def redact(text: str) -> str:
    """``text`` with every secret read or written in this process replaced by ``***``, in
    any letter case and URL-encoded."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def redacted_traceback(exc: BaseException) -> str:
    return redact("".join(traceback.format_exception(exc)).rstrip("\n"))


class RedactingWriter:
    """A text stream that masks known secrets in everything written through it (the CLI's
    stdout and stderr); every other attribute is the wrapped stream's."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def redacted_output() -> Iterator[None]:
    """Mask known secrets in what is printed to stdout and stderr while the block runs."""
    out, err = sys.stdout, sys.stderr
    sys.stdout = RedactingWriter(out)
    sys.stderr = RedactingWriter(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


def _install_hooks() -> None:
    """Mask secrets in every log record (any logger, any handler: the record factory runs
    when a record is made) and in the traceback of an uncaught exception."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _pattern is None:
            return record
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redacted_traceback(record.exc_info[1])
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    previous_hook, previous_thread_hook = sys.excepthook, threading.excepthook

    def excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        with redacted_output():
            previous_hook(kind, exc, tb)

    def thread_excepthook(hook: threading.ExceptHookArgs) -> None:
        with redacted_output():
            previous_thread_hook(hook)

    logging.setLogRecordFactory(factory)
    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook
    _installed = True


def protect(value: str) -> str:
    """Register ``value`` as secret (masked in logs, stored texts and printed output from
    now on); returns it."""
    global _pattern
    if value and len(value) >= 6:
        with _lock:
            if value not in _known:
                _known.add(value)
                spellings = sorted(
                    {s for known in _known for s in _spellings(known)}, key=len, reverse=True
                )
                _pattern = re.compile("|".join(map(re.escape, spellings)), re.IGNORECASE)
            _install_hooks()
    return value


# -- keyring and environment ----------------------------------------------------------------
def _from_keyring(service: str, name: str) -> str | None:
    try:
        import keyring

        return keyring.get_password(keyring_service(service), name) or None
    except Exception:  # no backend, locked keyring, dbus down: fall through to the environment
        return None


def get_secret(service: str, name: str, required: bool = False) -> str | None:
    value = _from_keyring(service, name) or os.environ.get(env_name(service, name)) or None
    if value is not None:
        value = protect(value.strip())
    if value is None and required:
        raise SecretMissing(
            f"no {name} for {service}: store it with `keyring set qws:{service} {name}`"
            f" or set {env_name(service, name)}"
        )
    return value


def secret_source(service: str, name: str) -> str:
    """Where :func:`get_secret` finds it: 'keyring', 'environment' or 'missing'."""
    if _from_keyring(service, name):
        return "keyring"
    return "environment" if os.environ.get(env_name(service, name)) else "missing"


def _keyring_usable() -> bool:
    import keyring

    return float(getattr(keyring.get_keyring(), "priority", 0)) > 0


def set_secret(service: str, name: str, value: str) -> None:
    """Store ``value`` in the OS keyring; a clear error if there is no usable keyring."""
    value = value.strip()
    if not value:
        raise SecretsError("empty value: nothing stored")
    protect(value)
    if not _keyring_usable():
        raise SecretsError(
            "no OS keyring is available here; set the environment variable"
            f" {env_name(service, name)} instead"
        )
    import keyring

    try:
        keyring.set_password(keyring_service(service), name, value)
    except Exception as exc:
        raise SecretsError(f"the keyring refused to store it: {redact(str(exc))}") from None


def delete_secret(service: str, name: str) -> bool:
    try:
        import keyring

        keyring.delete_password(keyring_service(service), name)
    except Exception:  # not there, or no keyring
        return False
    return True
