"""Which strategy runs where: ``NAME[:k=v,...]`` on a symbol and timeframe."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class SpecError(ValueError):
    """A strategy spec the user must fix (shown as one line)."""


@dataclass(frozen=True, slots=True)
class StrategySpec:
    name: str
    symbol: str
    timeframe: str
    params: Mapping[str, str] = field(default_factory=dict)
    auto: bool = False
    """Live orders of an ``auto`` strategy go out without asking (``confirm_live`` aside)."""

    @property
    def key(self) -> str:
        return f"{self.name} {self.symbol} {self.timeframe}"


def parse_strategy(text: str) -> tuple[str, dict[str, str]]:
    """``sma_cross:fast=5,slow=20`` -> ``("sma_cross", {"fast": "5", "slow": "20"})``."""
    name, _, rest = text.strip().partition(":")
    if not name:
        raise SpecError(f"strategy spec {text!r} has no name (NAME[:k=v,...])")
    params: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"strategy parameter {item!r} must look like name=value")
        params[key.strip()] = value.strip()
    return name, params


def specs_for(
    texts: Sequence[str], symbols: Sequence[str], timeframe: str, auto: Sequence[str] = ()
) -> list[StrategySpec]:
    """One spec per strategy and symbol; ``auto`` names the strategies marked auto in config."""
    out = []
    for text in texts:
        name, params = parse_strategy(text)
        out += [StrategySpec(name, s, timeframe, params, name in auto) for s in symbols]
    return out


def from_config(entries: Sequence[Mapping[str, Any]], timeframe: str) -> list[StrategySpec]:
    """``[[strategies.run]]`` tables: ``name``, ``symbols``, optional ``timeframe``, ``params``,
    ``auto``."""
    out = []
    for entry in entries:
        name = str(entry.get("name", ""))
        if not name:
            raise SpecError(f"strategies.run entry {dict(entry)} has no name")
        params = {str(k): str(v) for k, v in dict(entry.get("params", {})).items()}
        tf = str(entry.get("timeframe", timeframe))
        auto = bool(entry.get("auto", False))
        out += [StrategySpec(name, str(s), tf, params, auto) for s in entry.get("symbols", [])]
    return out
