"""Secrets (API keys, tokens): the OS keyring first, then the environment, never SQLite or logs.

``get_secret("binance", "api_key")`` reads keyring service ``qws:binance``, entry ``api_key``;
on headless machines without a keyring it falls back to ``QWS_BINANCE_API_KEY``. The Telegram
bot token is ``get_secret("telegram", "token")`` (``QWS_TELEGRAM_TOKEN``).

Every value read or written here is registered with a logging record factory that replaces
it with ``***`` in the message, arguments and exception text of every log record
(python-telegram-bot puts the token in its URLs and in ``InvalidToken`` messages);
:func:`redact` does the same for texts a caller stores or prints.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import traceback
from typing import Any

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
