"""Finding strategies: the ``qws.strategies`` entry points and ``.py`` files in the user's
strategies folder (``<config dir>/strategies``).

Loading never raises. A strategy whose module fails to import, whose class is not a
:class:`engine.strategy.Strategy`, that needs a newer interface, or whose name is taken, is
listed with the reason and its traceback and left disabled; every other strategy keeps working.
At run time :class:`GuardedStrategy` does the same for a strategy that raises in a hook: it is
disabled with its traceback logged, and the app carries on.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.strategy import INTERFACE_VERSION, Context, Param, Strategy, StrategyError
from workstation.runtime import registry

GROUP = "qws.strategies"
USER_MODULE_PREFIX = "qws_user_strategies"

log = logging.getLogger(__name__)


class StrategyNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class StrategyInfo:
    name: str
    source: str
    cls: type[Strategy] | None = None
    error: str = ""
    traceback: str = ""
    params: dict[str, Param] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.cls is not None and not self.error


def strategies_dir() -> Path:
    from workstation.runtime.config import config_dir

    return config_dir() / "strategies"


def _check(obj: Any, name: str, source: str) -> StrategyInfo:
    if not (isinstance(obj, type) and issubclass(obj, Strategy)):
        return StrategyInfo(name, source, error=f"{obj!r} is not a subclass of Strategy")
    version = getattr(obj, "interface_version", INTERFACE_VERSION)
    if version > INTERFACE_VERSION:
        return StrategyInfo(
            name,
            source,
            error=f"written for strategy interface {version}; this qws has {INTERFACE_VERSION}"
            " (upgrade qws)",
        )
    try:
        spec = obj.param_spec()
    except Exception as exc:
        return StrategyInfo(name, source, error=f"bad params: {exc}", traceback=_tb())
    return StrategyInfo(name, source, obj, params=spec)


def _tb() -> str:
    return traceback.format_exc()


def _from_entry_points() -> list[StrategyInfo]:
    out = []
    for p in registry.discover(GROUP):
        source = f"entry point {p.target} ({p.dist})"
        if not p.ok:
            out.append(StrategyInfo(p.name, source, error=p.error, traceback=p.traceback))
        else:
            out.append(_check(p.obj, p.name, source))
    return out


def _named_entry_point(name: str) -> StrategyInfo | None:
    """The entry point ``name`` alone, loaded and checked as :func:`discover` would (the first
    of that name, as there); None when no entry point has that name."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=GROUP):
        if ep.name == name:
            p = registry._load(GROUP, ep)
            source = f"entry point {p.target} ({p.dist})"
            if not p.ok:
                return StrategyInfo(p.name, source, error=p.error, traceback=p.traceback)
            return _check(p.obj, p.name, source)
    return None


def _load_file(path: Path) -> list[StrategyInfo]:
    module_name = f"{USER_MODULE_PREFIX}.{path.stem}"
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        # Registered under a stable name so process pools (walk-forward) can unpickle it.
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(module_name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        return [
            StrategyInfo(
                path.stem, str(path), error=f"{type(exc).__name__}: {exc}", traceback=_tb()
            )
        ]
    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, Strategy)
        and obj is not Strategy
        and obj.__module__ == module_name
    ]
    if not found:
        return [StrategyInfo(path.stem, str(path), error="defines no Strategy subclass")]
    return [_check(cls, cls.name or cls.__name__, str(path)) for cls in found]


def _from_folder(folder: Path) -> list[StrategyInfo]:
    if not folder.is_dir():
        return []
    if USER_MODULE_PREFIX not in sys.modules:
        package = importlib.util.module_from_spec(
            importlib.machinery.ModuleSpec(USER_MODULE_PREFIX, None, is_package=True)
        )
        package.__path__ = [str(folder)]
        sys.modules[USER_MODULE_PREFIX] = package
    out: list[StrategyInfo] = []
    for path in sorted(folder.glob("*.py")):
        if not path.name.startswith("_"):
            out.extend(_load_file(path))
    return out


def discover(folder: Path | None = None) -> list[StrategyInfo]:
    """Every strategy, enabled or with the reason it is not; entry points win name clashes."""
    seen: dict[str, StrategyInfo] = {}
    clashes: list[StrategyInfo] = []
    for info in [*_from_entry_points(), *_from_folder(folder or strategies_dir())]:
        if info.name in seen:
            clashes.append(
                StrategyInfo(
                    info.name,
                    info.source,
                    error=f"name {info.name!r} is already taken by {seen[info.name].source}",
                )
            )
        else:
            seen[info.name] = info
    return sorted(seen.values(), key=lambda i: i.name) + clashes


def _enabled(info: StrategyInfo) -> type[Strategy]:
    if not info.enabled:
        raise StrategyNotFound(f"strategy {info.name!r} is disabled: {info.error}")
    assert info.cls is not None
    return info.cls


def get(name: str, folder: Path | None = None) -> type[Strategy]:
    """The class of strategy ``name``. An entry point wins a name clash in :func:`discover`,
    so a name an entry point has is loaded alone: the other plugins and the user's files are
    not imported (a one-shot ``qws backtest`` would pay for qiskit-era modules it never uses)."""
    named = _named_entry_point(name)
    if named is not None:
        return _enabled(named)
    infos = discover(folder)
    for info in infos:
        if info.name == name:
            return _enabled(info)
    available = ", ".join(i.name for i in infos if i.enabled) or "none"
    raise StrategyNotFound(f"unknown strategy {name!r}; available: {available}")


def create(name: str, params: dict[str, Any] | None = None, folder: Path | None = None) -> Strategy:
    """An instance of strategy ``name`` with ``params`` (strings are coerced to the types)."""
    return get(name, folder)(**(params or {}))


class GuardedStrategy:
    """Wraps a strategy for the live app: an exception in a hook disables it (traceback logged,
    kept in ``error``) instead of taking the app down."""

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        self.error = ""

    @property
    def enabled(self) -> bool:
        return not self.error

    def _call(self, hook: str, *args: Any, **kwargs: Any) -> Any:
        if self.error:
            return None
        try:
            return getattr(self.strategy, hook)(*args, **kwargs)
        except Exception as exc:
            self.error = f"{hook}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
            log.error(
                "strategy %s disabled after an error in %s:\n%s",
                self.strategy.name,
                hook,
                self.error,
            )
            return None

    def on_start(self, ctx: Context, **kwargs: Any) -> None:
        self._call("on_start", ctx, **kwargs)

    def on_bar(self, ctx: Context, bars: Any, **kwargs: Any) -> Any:
        return self._call("on_bar", ctx, bars, **kwargs)

    def on_fill(self, ctx: Context, fill: Any, **kwargs: Any) -> None:
        self._call("on_fill", ctx, fill, **kwargs)

    def on_stop(self, ctx: Context, **kwargs: Any) -> None:
        self._call("on_stop", ctx, **kwargs)


__all__ = [
    "GROUP",
    "GuardedStrategy",
    "StrategyError",
    "StrategyInfo",
    "StrategyNotFound",
    "create",
    "discover",
    "get",
    "strategies_dir",
]
