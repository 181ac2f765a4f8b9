"""Secrets (API keys, tokens): the OS keyring first, then the environment, never SQLite or logs.

``get_secret("binance", "api_key")`` reads keyring service ``qws:binance``, entry ``api_key``;
on headless machines without a keyring it falls back to ``QWS_BINANCE_API_KEY``.
"""

from __future__ import annotations

import os
import re


class SecretMissing(LookupError):
    """No secret under that name; the message says where it was looked for, not any value."""


def env_name(service: str, name: str) -> str:
    return "QWS_" + re.sub(r"[^A-Z0-9]+", "_", f"{service}_{name}".upper()).strip("_")


def get_secret(service: str, name: str, required: bool = False) -> str | None:
    value: str | None = None
    try:
        import keyring
        import keyring.errors

        value = keyring.get_password(f"qws:{service}", name)
    except Exception:  # no backend, locked keyring, dbus down: fall through to the environment
        value = None
    if not value:
        value = os.environ.get(env_name(service, name)) or None
    if value is None and required:
        raise SecretMissing(
            f"no {name} for {service}: store it with `keyring set qws:{service} {name}`"
            f" or set {env_name(service, name)}"
        )
    return value
