"""The plugin registry: entry points in the groups ``qws.feeds``, ``qws.brokers``,
``qws.strategies``, ``qws.notifiers`` and ``qws.sources``. First-party plugins register the
same way.

Loading never raises: a plugin that fails to import is recorded with its error and
traceback, reported by ``qws doctor``, and left out, so one broken plugin never stops the app.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

GROUPS = ("qws.feeds", "qws.brokers", "qws.strategies", "qws.notifiers", "qws.sources")


@dataclass(frozen=True, slots=True)
class PluginInfo:
    group: str
    name: str
    target: str
    dist: str
    obj: Any = None
    error: str = ""
    traceback: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


class PluginNotFound(LookupError):
    pass


def _load(group: str, ep: EntryPoint) -> PluginInfo:
    dist = ep.dist.name if ep.dist is not None else "?"
    try:
        obj = ep.load()
    except Exception as exc:
        return PluginInfo(
            group,
            ep.name,
            ep.value,
            dist,
            None,
            f"{type(exc).__name__}: {exc}",
            traceback.format_exc(),
        )
    return PluginInfo(group, ep.name, ep.value, dist, obj)


def discover(group: str) -> list[PluginInfo]:
    """Every plugin of ``group``, loaded or with the reason it failed; sorted by name."""
    seen: dict[str, PluginInfo] = {}
    for ep in entry_points(group=group):
        seen.setdefault(ep.name, _load(group, ep))
    return sorted(seen.values(), key=lambda p: p.name)


def load(group: str, name: str) -> Any:
    """The object registered as ``name`` in ``group``; a clear error if absent or broken."""
    for info in discover(group):
        if info.name == name:
            if not info.ok:
                raise PluginNotFound(f"plugin {group}:{name} failed to load: {info.error}")
            return info.obj
    available = ", ".join(p.name for p in discover(group) if p.ok) or "none"
    kind = group.split(".", 1)[1].rstrip("s")
    raise PluginNotFound(f"unknown {kind} {name!r}; available: {available}")
