"""Secrets (bot tokens, API keys): the OS keyring first, an environment variable as fallback.

``get_secret("telegram")`` reads the keyring entry (service ``qws``, user ``telegram``),
else ``QWS_TELEGRAM_TOKEN``. A secret never goes into SQLite, settings or logs: every value
read here is registered with a logging record factory that replaces it with ``***`` in
messages, arguments and exception texts of every log record (python-telegram-bot puts the
token in its URLs and in ``InvalidToken`` messages), and :func:`redact` does the same for
texts the caller stores or prints.
"""

from __future__ import annotations

import logging
import os
import threading
import traceback
from typing import Any

SERVICE = "qws"
MASK = "***"


class SecretsError(RuntimeError):
    pass


def env_name(name: str) -> str:
    return f"QWS_{name.upper().replace('-', '_').replace('.', '_')}_TOKEN"


_known: set[str] = set()
_lock = threading.Lock()
_installed = False


def redact(text: str) -> str:
    """``text`` with every secret read or written in this process replaced by ``***``."""
    for value in sorted(_known, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def _install_record_factory() -> None:
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if not _known:
            return record
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = redact(text)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def protect(value: str) -> str:
    """Register ``value`` as secret (masked in logs from now on); returns it."""
    if value and len(value) >= 6:
        with _lock:
            _known.add(value)
            _install_record_factory()
    return value


def _keyring_usable() -> bool:
    import keyring

    backend = keyring.get_keyring()
    return float(getattr(backend, "priority", 0)) > 0


def get_secret(name: str) -> str | None:
    """The secret from the keyring, else from ``QWS_<NAME>_TOKEN``, else None."""
    value: str | None = None
    try:
        import keyring

        value = keyring.get_password(SERVICE, name)
    except Exception:  # no keyring daemon, locked keyring: use the fallback
        value = None
    if not value:
        value = os.environ.get(env_name(name)) or None
    if value:
        value = value.strip()
        protect(value)
    return value


def secret_source(name: str) -> str:
    """Where :func:`get_secret` finds ``name``: 'keyring', 'environment' or 'missing'."""
    try:
        import keyring

        if keyring.get_password(SERVICE, name):
            return "keyring"
    except Exception:
        pass
    return "environment" if os.environ.get(env_name(name)) else "missing"


def set_secret(name: str, value: str) -> None:
    """Store ``value`` in the OS keyring; a clear error if there is no usable keyring."""
    value = value.strip()
    if not value:
        raise SecretsError("empty value: nothing stored")
    protect(value)
    if not _keyring_usable():
        raise SecretsError(
            f"no OS keyring is available here; set the environment variable {env_name(name)}"
            " instead"
        )
    import keyring

    try:
        keyring.set_password(SERVICE, name, value)
    except Exception as exc:
        raise SecretsError(f"the keyring refused to store it: {redact(str(exc))}") from None


def delete_secret(name: str) -> bool:
    try:
        import keyring

        keyring.delete_password(SERVICE, name)
    except Exception:  # not there, or no keyring
        return False
    return True
