"""From typed text to tokens and numbers; the one-edit test typo correction is built on."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from engine.commands.model import CommandError

_AT = re.compile(r"@\s*")
_EQUALS = re.compile(r"(?<=\w)\s*=\s*(?=\S)")
_CURRENCY_SIGN = re.compile(r"-?\s*([$€£])")
_PERCENT = re.compile(r"(?<=\d)\s*(%|percent\b|per\s*cent\b|pct\b)", re.IGNORECASE)
_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d,])")
_DECIMAL_COMMA = re.compile(r"\d[\d,]*,\d[\d,]*")
_SPLIT = re.compile(r"[\s,]+")
_NUMERIC = re.compile(r"[-+]?[\d_.']+[kKmM]?")
_PERCENT_TOKEN = re.compile(r"[-+]?[\d.]+%")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_SUFFIXES = {"k": Decimal(1000), "m": Decimal(1_000_000)}
_MOST_DIGITS = 18


def tokens(text: str) -> list[str]:
    """Split a command line into tokens.

    A comma followed by a space (or a letter) separates (``buy 1 btc, sl 58000``); a comma
    between digit groups is a thousands separator (``60,000``); any other comma between
    digits (``1,5``) is refused rather than read as a decimal point or a separator."""
    text = text.strip().lstrip(":/").strip()
    text = _AT.sub(" @ ", text)
    text = _EQUALS.sub("=", text)
    text = _CURRENCY_SIGN.sub(_sign, text)
    text = _PERCENT.sub("%", text)
    text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)
    bad = _DECIMAL_COMMA.search(text)
    if bad:
        raise CommandError(
            f"{bad.group(0)!r}: write decimals with a point (1.5) and thousands as 1,500"
        )
    return [t for t in _SPLIT.split(text) if t]


def _sign(match: re.Match[str]) -> str:
    """``$500`` -> ``$ 500``; ``-$500`` -> ``$ -500`` so the minus stays with the number."""
    minus = "-" if match.group(0).startswith("-") else ""
    return f" {match.group(1)} {minus}"


def number(token: str, what: str) -> Decimal:
    """A positive amount or price: ``0.1``, ``60000``, ``1.5k``, ``2m``; refused otherwise."""
    if not looks_numeric(token):
        raise CommandError(f"expected a number for {what}, got {token!r}")
    cleaned = token.replace("_", "").replace("'", "")
    mult = _SUFFIXES.get(cleaned[-1:].lower()) if len(cleaned) > 1 else None
    base = cleaned[:-1] if mult is not None else cleaned
    try:
        typed = Decimal(base)
    except InvalidOperation:
        raise CommandError(f"expected a number for {what}, got {token!r}") from None
    if len(typed.as_tuple().digits) > _MOST_DIGITS:
        raise CommandError(f"{what}: {token!r} has more digits than a price or amount can")
    value = typed * (mult or 1)
    if not value.is_finite() or value <= 0:
        raise CommandError(f"{what} must be a positive number, got {token!r}")
    return plain(value)


def is_number(token: str) -> bool:
    try:
        number(token, "")
    except CommandError:
        return False
    return True


def looks_numeric(token: str) -> bool:
    return _NUMERIC.fullmatch(token) is not None and any(c.isdigit() for c in token)


def is_percent(token: str) -> bool:
    return _PERCENT_TOKEN.fullmatch(token) is not None


def percent(token: str) -> Decimal:
    """``25%`` -> 0.25 of the position; more than 0% and at most 100%."""
    try:
        value = Decimal(token[:-1]) / 100
    except InvalidOperation:
        raise CommandError(f"expected a percentage, got {token!r}") from None
    return fraction(value, token)


def fraction(value: Decimal, typed: str) -> Decimal:
    if not value.is_finite() or value <= 0 or value > 1:
        raise CommandError(
            f"a fraction of the position must be more than 0% and at most 100%, got {typed!r}"
        )
    return plain(value)


def plain(value: Decimal) -> Decimal:
    """The same value without a trailing exponent or zeros (``1.5k`` is 1500, not 1500.0)."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal


def fmt(value: Decimal) -> str:
    return format(plain(value), "f")


def squash(s: str) -> str:
    return _NOT_ALNUM.sub("", s.lower())


def one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by exactly one edit: an insertion, a deletion, a
    substitution or two adjacent letters swapped (Damerau-Levenshtein distance 1)."""
    la, lb = len(a), len(b)
    if a == b or abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        i, j = diff[0], diff[-1]
        return len(diff) == 2 and j == i + 1 and a[i] == b[j] and a[j] == b[i]
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


def distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment), for naming close matches."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i, *([0] * len(b))]
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def readings(token: str, vocabulary: Mapping[str, str]) -> dict[str, str]:
    """The meanings ``token`` is one edit away from, each with the word that gives it.

    Only words of three letters or more are targets: a one- or two-letter word (``sl``, ``b``)
    is one edit from too much."""
    found: dict[str, str] = {}
    if len(token) < 2:
        return found
    for word, meaning in vocabulary.items():
        if len(word) >= 3 and meaning not in found and one_edit(token, word):
            found[meaning] = word
    return found
