"""Which instrument a typed name means: a symbol, its letters, a base asset, a common name.

The one resolution of a typed symbol (the command bar, ``qws order``, the broker factory):
the same symbol in any case first, then the same letters without separators (``btcusdt``),
then a name from the alias table (``bitcoin`` -> BTC, whose one symbol is BTC/USDT), then a
unique prefix of the letters (``btc`` -> ``BTC/USDT``). Nothing is guessed: several matches,
or none, are a CommandError that names the candidates or the closest symbols.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from engine.commands.lexicon import KNOWN_QUOTES
from engine.commands.model import CommandError
from engine.commands.text import distance, squash

_MOST_CLOSEST = 3


@dataclass(frozen=True, slots=True)
class Catalog:
    """The symbols, once, with the forms every lookup compares against."""

    symbols: tuple[str, ...]
    upper: tuple[str, ...]
    squashed: tuple[str, ...]
    bases: tuple[str, ...]


@lru_cache(maxsize=16)
def catalog(symbols: tuple[str, ...]) -> Catalog:
    unique = tuple(dict.fromkeys(symbols))
    return Catalog(
        unique,
        tuple(s.upper() for s in unique),
        tuple(squash(s) for s in unique),
        tuple(base_of(s) for s in unique),
    )


def base_of(symbol: str) -> str:
    """``BTC/USDT`` -> BTC, ``XAUUSD`` -> XAU, ``US500`` -> US500 (no quote to take off)."""
    upper = symbol.upper()
    if "/" in upper:
        return upper.split("/", 1)[0]
    for quote in KNOWN_QUOTES:
        if upper.endswith(quote) and len(upper) - len(quote) >= 2 and upper.isalpha():
            return upper[: -len(quote)]
    return upper


def quote_of(symbol: str) -> str | None:
    """``BTC/USDT`` -> USDT, ``USDJPY`` -> JPY, ``US500`` -> None (not known from the name)."""
    upper = symbol.upper()
    if "/" in upper:
        return upper.split("/", 1)[1].split(":", 1)[0] or None
    base = base_of(upper)
    return upper[len(base) :] if base != upper else None


def lookup(token: str, symbols: Sequence[str], aliases: Mapping[str, str]) -> list[str]:
    """Every symbol ``token`` may mean at the first rule that finds any (one: resolved)."""
    cat = catalog(tuple(symbols))
    upper = token.upper()
    same = [s for s, u in zip(cat.symbols, cat.upper, strict=True) if u == upper]
    if same:
        return [upper] if upper in same else same
    squashed = squash(token)
    if not squashed:
        return []
    exact = [s for s, q in zip(cat.symbols, cat.squashed, strict=True) if q == squashed]
    if exact:
        return exact
    meant = aliases.get(token.lower())
    if meant is not None:
        return _by_value(meant, cat)
    return [s for s, q in zip(cat.symbols, cat.squashed, strict=True) if q.startswith(squashed)]


def _by_value(value: str, cat: Catalog) -> list[str]:
    """An alias's symbols: the symbol it names, else those whose base asset it is."""
    upper, squashed = value.upper(), squash(value)
    named = [s for s, q in zip(cat.symbols, cat.squashed, strict=True) if q == squashed]
    if named:
        return [s for s, u in zip(cat.symbols, cat.upper, strict=True) if u == upper] or named
    based = [s for s, b in zip(cat.symbols, cat.bases, strict=True) if b == upper]
    if based:
        return based
    return [s for s, q in zip(cat.symbols, cat.squashed, strict=True) if q.startswith(squashed)]


def resolve_symbol(
    token: str, symbols: Sequence[str] | None, aliases: Mapping[str, str] | None = None
) -> str:
    """The known symbol ``token`` names, or a CommandError listing the close candidates.

    Without a list of symbols a name is taken as typed (upper-cased), or as its alias says."""
    names = aliases or {}
    if not symbols:
        return names.get(token.lower(), token).upper()
    found = lookup(token, symbols, names)
    quoted = _quoted_in(token, symbols, found)
    if len(found) == 1 and not quoted:
        return found[0]
    if quoted:
        raise CommandError(
            f"{token!r} is ambiguous: {_some([*found, *quoted])}"
            f" (each has {squash(token).upper()} in it)"
        )
    meant = names.get(token.lower())
    said = (
        f"{token!r} ({meant.upper()})" if meant and squash(meant) != squash(token) else f"{token!r}"
    )
    if found:
        raise CommandError(f"{said} is ambiguous: {_some(found)}")
    if not squash(token):
        raise CommandError(f"not a symbol: {token!r}")
    near = closest(token, symbols, names)
    hint = (
        f"closest: {', '.join(near)}"
        if near
        else f"known: {_some(list(catalog(tuple(symbols)).symbols))}"
    )
    if meant is not None:
        raise CommandError(
            f"{token!r} means {meant.upper()}, which is not among the symbols; {hint}"
        )
    raise CommandError(f"unknown symbol {token!r}; {hint}")


def _quoted_in(token: str, symbols: Sequence[str], found: Sequence[str]) -> list[str]:
    """The symbols quoted in the currency ``token`` spells when it found one symbol by the
    start of its letters: "usd" begins USDJPY but is also what EURUSD and XAUUSD are priced
    in, so it names none of them (a prefix never picks one of a currency's pairs)."""
    squashed = squash(token)
    if len(found) != 1 or not squashed or squash(found[0]) == squashed:
        return []
    return [s for s in symbols if s not in found and squash(quote_of(s) or "") == squashed]


def names_symbol(token: str, symbols: Sequence[str] | None, aliases: Mapping[str, str]) -> bool:
    """Whether ``token`` names one symbol or several (a typo is never corrected away from one)."""
    if not symbols:
        return token.lower() in aliases
    return bool(lookup(token, symbols, aliases))


def closest(token: str, symbols: Sequence[str], aliases: Mapping[str, str]) -> list[str]:
    """Up to three symbols whose letters, base asset or common name are near ``token``: within
    one edit for a short name, two for a longer one, or a prefix either way."""
    cat = catalog(tuple(symbols))
    typed = squash(token)
    names: dict[str, set[str]] = {
        s: {q, squash(b)} for s, q, b in zip(cat.symbols, cat.squashed, cat.bases, strict=True)
    }
    for name, value in aliases.items():
        for s in _by_value(value, cat):
            names[s].add(squash(name))
    most = 1 if len(typed) <= 3 else 2
    scored: list[tuple[int, int, str]] = []
    for i, s in enumerate(cat.symbols):
        score = min(_nearness(typed, n) for n in names[s] if n)
        if score <= most:
            scored.append((score, i, s))
    return [s for _, _, s in sorted(scored)[:_MOST_CLOSEST]]


def _nearness(typed: str, name: str) -> int:
    if len(typed) >= 2 and len(name) >= 2 and (name.startswith(typed) or typed.startswith(name)):
        return 1
    return distance(typed, name)


def _some(symbols: list[str], most: int = 12) -> str:
    shown = ", ".join(symbols[:most])
    return shown if len(symbols) <= most else f"{shown} ... ({len(symbols)} in all)"
