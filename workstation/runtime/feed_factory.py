"""Building the feed a user asked for from the plugin registry and the settings.

A feed plugin's constructor receives its settings section as keyword arguments (``demo`` ->
``[demo]``, ``replay`` -> ``[replay]``, others -> ``[feeds.NAME]``) merged with what the command
line gave; feeds accept and ignore keys they do not know.
"""

from __future__ import annotations

from typing import Any

from engine.protocols import Feed
from feeds.errors import FeedError as FeedsError
from workstation.runtime.config import Settings
from workstation.runtime.registry import load
from workstation.runtime.secrets import get_secret


class FeedError(RuntimeError):
    pass


def settings_section(name: str) -> str:
    return name if name in ("demo", "replay") else f"feeds.{name}"


def make_feed(name: str, settings: Settings, **overrides: Any) -> Feed:
    try:
        cls = load("qws.feeds", name)
    except LookupError as exc:
        raise FeedError(str(exc)) from exc
    kwargs = settings.section(settings_section(name))
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    # a feed names the secrets it needs as {kwarg: (service, name)}; they come from the
    # keyring/environment here, because feeds never read workstation state themselves
    for kwarg, (service, secret) in getattr(cls, "secrets", {}).items():
        if kwargs.get(kwarg) is None:
            kwargs[kwarg] = get_secret(service, secret)
    try:
        feed: Feed = cls(**kwargs)
    except (ValueError, KeyError, OSError, FeedsError) as exc:
        raise FeedError(f"cannot start the {name} feed: {exc}") from exc
    return feed
