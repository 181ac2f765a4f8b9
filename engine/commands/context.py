"""What one parse carries from word to word: the symbols, the aliases, the typos corrected."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from engine.commands.lexicon import KNOWN_WORDS
from engine.commands.model import CommandError
from engine.commands.symbols import names_symbol, resolve_symbol
from engine.commands.text import is_percent, looks_numeric, readings
from engine.commands.timeframes import timeframe_of


@dataclass(slots=True)
class Context:
    symbols: Sequence[str] | None
    aliases: Mapping[str, str]
    corrections: list[str] = field(default_factory=list)

    def resolve(self, token: str) -> str:
        return resolve_symbol(token, self.symbols, self.aliases)

    def names_symbol(self, token: str) -> bool:
        return names_symbol(token, self.symbols, self.aliases)

    def symbol_or_word(self, token: str, vocabulary: Mapping[str, str]) -> tuple[str, bool]:
        """What ``token`` is in a phrase whose keywords are ``vocabulary``: (the symbol it
        names, True) or (the keyword it misspells, False); a CommandError naming the closest
        symbols when it is neither."""
        if self.names_symbol(token):
            return self.resolve(token), True
        corrected = self.correct(token, vocabulary)
        if corrected is None:
            return self.resolve(token), True
        return corrected, False

    def correct(
        self, token: str, vocabulary: Mapping[str, str], *, record: bool = True
    ) -> str | None:
        """The word of ``vocabulary`` a misspelt ``token`` stands for, recorded, or None.

        A token that is a word already, a number, a timeframe or a symbol is never corrected;
        one edit from two meanings is an error naming both rather than a guess."""
        low = token.lower()
        if (
            low in KNOWN_WORDS
            or low in self.aliases
            or looks_numeric(low)
            or is_percent(low)
            or timeframe_of(low) is not None
            or self.names_symbol(token)
        ):
            return None
        found = readings(low, vocabulary)
        if not found:
            return None
        if len(found) > 1:
            words = " or ".join(repr(w) for w in sorted(found.values()))
            raise CommandError(f"{token!r} could be {words}; which did you mean?")
        word = next(iter(found.values()))
        if record:
            self.corrections.append(f"{low} -> {word}")
        return word
