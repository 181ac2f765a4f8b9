"""News sentiment: a headline's score, the instruments it concerns, a symbol's decayed mean.

Scoring is offline: VADER's rule-based analyser (its lexicon ships with the package, nothing is
downloaded) with :data:`FINANCE_LEXICON` merged over its words, because market verbs such as
"surge", "plunge" or "glut" are neutral, or missing, in a lexicon made for social media. The
score is VADER's ``compound`` in [-1, 1].

Which instruments an item concerns (:func:`resolve_symbols`) is read from whole words of its
text, case-insensitive, longest name first (``crude oil`` is one name, not ``oil`` again):

- a known symbol as written (``BTC/USDT``, ``EURUSD``, ``BRENT-WTI``) or without separators
  (``BTCUSDT``), and the base asset of a symbol with a ``/`` (``BTC`` -> ``BTC/USDT``);
- a name of the command bar's table :data:`engine.commands.lexicon.DEFAULT_ALIASES`
  (``bitcoin`` -> BTC), with :data:`engine.commands.lexicon.NEWS_NAMES` over it for the
  names a headline uses for several instruments (``OPEC``, ``crude``, ``oil`` concern both
  WTI and BRENT), and the user's aliases over both. A value names a symbol, else a base asset:
  every known symbol with that base.

A spread (``BRENT-WTI``) is concerned only by its own name: a headline that lifts oil lifts
both legs and says nothing about their difference, so ``OPEC`` never resolves to it.

:func:`sentiment_series` turns a symbol's scored items into a column aligned with its bars:
at each bar's close the mean of the scores published at or before it, each weighed by
``0.5 ** (age / half_life)``. :func:`with_sentiment` attaches it to a bar frame as the
``sentiment`` and ``sentiment_weight`` columns, which both the rule ensemble's sentiment vote
and the learnt model's ``news_sentiment`` feature read (:mod:`engine.signals.ensemble`): one
function makes the column for a fit and for the scan it scores, so the two never differ.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from engine.commands.lexicon import DEFAULT_ALIASES, NEWS_NAMES
from engine.commands.symbols import base_of
from engine.commands.text import squash
from engine.timeframes import parse

if TYPE_CHECKING:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

HALF_LIFE_S = 21_600.0
"""The default half-life of an item's weight (``signals.sentiment_half_life_s``): 6 hours."""
LOOKBACK_HALF_LIVES = 20
"""Items older than this many half-lives before a frame's first bar are not read: their weight
is under 1e-6 of a fresh item's (:func:`news_window`)."""

FINANCE_LEXICON: dict[str, float] = {
    # up moves, upgrades, demand (VADER's scale: -4 .. 4; "good" is 1.9, "great" 3.1)
    **dict.fromkeys(("surge", "surges", "surged", "surging"), 2.2),
    **dict.fromkeys(("soar", "soars", "soared", "soaring"), 2.4),
    **dict.fromkeys(("rally", "rallies", "rallied", "rallying"), 2.0),
    **dict.fromkeys(("jump", "jumps", "jumped"), 1.6),
    **dict.fromkeys(("climb", "climbs", "climbed", "rise", "rises", "rose", "gains"), 1.2),
    **dict.fromkeys(("higher", "firms", "firmer", "strengthens"), 1.0),
    **dict.fromkeys(("rebound", "rebounds", "rebounded", "recovers", "recovery"), 1.5),
    **dict.fromkeys(("beat", "beats", "tops", "outperform", "outperforms"), 1.5),
    **dict.fromkeys(("upgrade", "upgrades", "upgraded"), 1.8),
    **dict.fromkeys(("bullish", "bull"), 2.0),
    **dict.fromkeys(("record-high", "boom", "booming"), 1.8),
    # down moves, downgrades, oversupply, distress
    **dict.fromkeys(("plunge", "plunges", "plunged", "plunging"), -2.6),
    **dict.fromkeys(("slump", "slumps", "slumped"), -2.2),
    **dict.fromkeys(("tumble", "tumbles", "tumbled"), -2.2),
    **dict.fromkeys(("slide", "slides", "slid", "sinks", "sank", "dives", "dived"), -1.6),
    **dict.fromkeys(("fall", "falls", "fell", "drops", "dropped", "declines"), -1.2),
    **dict.fromkeys(("slip", "slips", "slipped", "retreat", "retreats", "retreated"), -1.2),
    **dict.fromkeys(("eases", "eased"), -0.6),  # a price that eases is lower, not relieved
    **dict.fromkeys(("lower",), -1.0),
    **dict.fromkeys(("miss", "misses", "missed"), -1.5),
    **dict.fromkeys(("downgrade", "downgrades", "downgraded"), -1.8),
    **dict.fromkeys(("bearish", "bear"), -2.0),
    **dict.fromkeys(("glut", "oversupply", "oversupplied"), -2.0),
    **dict.fromkeys(("default", "defaults", "defaulted"), -2.4),
    **dict.fromkeys(("bankruptcy", "bankrupt", "insolvency", "insolvent"), -3.0),
    **dict.fromkeys(("selloff", "sell-off", "rout", "crash", "crashes"), -2.4),
    # market nouns VADER reads as tone ("crude" is rude there, "interest" is liking); a cut
    # (of output, of rates) moves prices either way
    **dict.fromkeys(
        ("crude", "natural", "energy", "shares", "interest", "demand", "cut", "cuts"), 0.0
    ),
}
"""Finance and energy words, merged over VADER's lexicon (inflections listed: VADER does not
stem). A word's value is a market's reading of it, not the word's everyday tone."""


@lru_cache(maxsize=1)
def _analyser() -> SentimentIntensityAnalyzer:
    # Imported and built on the first score: reading VADER's lexicon file takes ~50 ms.
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyser = SentimentIntensityAnalyzer()
    analyser.lexicon.update(FINANCE_LEXICON)
    return analyser


def score_text(text: str) -> float:
    """The sentiment of ``text`` in [-1, 1] (0.0 for empty or neutral text)."""
    if not text or not text.strip():
        return 0.0
    compound = float(_analyser().polarity_scores(text)["compound"])
    return min(1.0, max(-1.0, compound))


def _clean(name: str) -> str:
    return " ".join(name.lower().split())


def _targets(value: str, known: Sequence[str]) -> tuple[str, ...]:
    """The known symbols an alias value names: the symbol itself, else those with that base."""
    upper, squashed = value.strip().upper(), squash(value)
    named = tuple(s for s in known if s.upper() == upper)
    if named:
        return named
    named = tuple(s for s in known if squash(s) == squashed)
    if named:
        return named
    return tuple(s for s in known if base_of(s) == upper and "-" not in s)


@lru_cache(maxsize=32)
def _matcher(
    known: tuple[str, ...], aliases: tuple[tuple[str, tuple[str, ...]], ...]
) -> tuple[re.Pattern[str], dict[str, tuple[str, ...]]]:
    """One regex over every name of ``known`` (longest first) and what each name concerns."""
    own: dict[str, tuple[str, ...]] = {}
    for symbol in known:
        own.setdefault(_clean(symbol), (symbol,))
        own.setdefault(squash(symbol), (symbol,))
    names: dict[str, tuple[str, ...]] = {}
    for symbol in known:
        if "/" in symbol:
            base = _clean(base_of(symbol))
            names[base] = (*names.get(base, ()), symbol)
    for name, targets in aliases:
        found: list[str] = []
        for value in targets:
            found.extend(s for s in _targets(value, known) if s not in found)
        if found:
            names[name] = tuple(found)
    names.update(own)  # a symbol's own name means that symbol, whatever an alias says
    names = {k: v for k, v in names.items() if k}
    ordered = sorted(names, key=lambda n: (-len(n), n))
    body = "|".join(r"\s+".join(map(re.escape, n.split())) for n in ordered)
    pattern = re.compile(rf"(?<![0-9a-z])(?:{body})(?![0-9a-z])", re.IGNORECASE)
    return pattern, names


def _alias_table(aliases: Mapping[str, str] | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    table: dict[str, tuple[str, ...]] = {_clean(k): (v,) for k, v in DEFAULT_ALIASES.items()}
    table.update({_clean(k): v for k, v in NEWS_NAMES.items()})
    for name, value in (aliases or {}).items():
        if isinstance(name, str) and isinstance(value, str) and name.strip() and value.strip():
            table[_clean(name)] = (value.strip(),)
    return tuple(sorted(table.items()))


def resolve_symbols(
    text: str, known: Collection[str], aliases: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """The symbols among ``known`` that ``text`` concerns, in order of first mention.

    ``aliases`` (name -> symbol or base asset: ``news.aliases`` with ``commands.aliases``) are
    merged over the built-in names."""
    if not text or not known:
        return ()
    pattern, names = _matcher(tuple(dict.fromkeys(known)), _alias_table(aliases))
    out: dict[str, None] = {}
    for match in pattern.finditer(text):
        for symbol in names.get(_clean(match.group(0)), ()):
            out.setdefault(symbol, None)
    return tuple(out)


def _decay_rate(half_life_s: float) -> float:
    if not half_life_s > 0:
        raise ValueError(f"half_life_s must be > 0, got {half_life_s}")
    return float(np.log(2.0) / (half_life_s * 1e9))


def sentiment_series(
    close_ns: Sequence[int] | np.ndarray,
    item_ts: Sequence[int] | np.ndarray,
    item_score: Sequence[float] | np.ndarray,
    half_life_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(value, weight) at each bar close: the decayed mean of the scores published at or before
    it and the sum of their decay weights (value 0.0 and weight 0.0 before the first item).

    Causal by construction: a bar sees only the items with ``ts <= close``. Running sums are
    kept relative to the latest item's time, so the exponentials never overflow."""
    close = np.asarray(close_ns, dtype=np.int64)
    ts = np.asarray(item_ts, dtype=np.int64)
    score = np.asarray(item_score, dtype=np.float64)
    if ts.shape != score.shape:
        raise ValueError("item_ts and item_score differ in length")
    rate = _decay_rate(half_life_s)
    value = np.zeros(close.shape, dtype=np.float64)
    weight = np.zeros(close.shape, dtype=np.float64)
    ok = np.isfinite(score)
    ts, score = ts[ok], score[ok]
    if ts.size == 0 or close.size == 0:
        return value, weight
    order = np.argsort(ts, kind="stable")
    ts, score = ts[order], score[order]
    # S_w(k) = sum_{j<=k} exp(-rate (t_k - t_j)), by recursion over the sorted items.
    step = np.exp(-rate * np.diff(ts).astype(np.float64))
    sw = np.empty(ts.size)
    sv = np.empty(ts.size)
    sw[0], sv[0] = 1.0, score[0]
    for k in range(1, ts.size):  # one pass over the items (tens per day), not the bars
        sw[k] = sw[k - 1] * step[k - 1] + 1.0
        sv[k] = sv[k - 1] * step[k - 1] + score[k]
    last = np.searchsorted(ts, close, side="right") - 1
    has = last >= 0
    idx = last[has]
    decay = np.exp(-rate * (close[has] - ts[idx]).astype(np.float64))
    weight[has] = sw[idx] * decay
    value[has] = sv[idx] / sw[idx]
    return value, weight


def sentiment_at(
    item_ts: Sequence[int] | np.ndarray,
    item_score: Sequence[float] | np.ndarray,
    at_ns: int,
    half_life_s: float,
) -> float | None:
    """A symbol's decayed sentiment at ``at_ns`` (None: no item published by then)."""
    ts = np.asarray(item_ts, dtype=np.int64)
    score = np.asarray(item_score, dtype=np.float64)
    value, _ = sentiment_series([at_ns], ts, score, half_life_s)
    seen = (ts <= at_ns) & np.isfinite(score) if ts.shape == score.shape else ts <= at_ns
    return float(value[0]) if bool(seen.any()) else None


def news_window(bars: pl.DataFrame, timeframe: str, half_life_s: float) -> tuple[int, int]:
    """The publication times ``[start, end]`` of the items :func:`with_sentiment` needs for
    ``bars``: up to the last bar's close, from :data:`LOOKBACK_HALF_LIVES` before the first."""
    ts = bars["ts"]
    first, last = int(ts[0]), int(ts[-1])
    back = int(LOOKBACK_HALF_LIVES * half_life_s * 1e9)
    return first - back, last + parse(timeframe).ns


ScoreReader = Callable[[int, int], tuple[Sequence[int], Sequence[float]]]
"""``(start_ns, end_ns) -> (publication times, scores)`` of one symbol's scored items, oldest
first: ``functools.partial(store.news.scores, symbol)``."""


def attach_news(
    bars: pl.DataFrame, timeframe: str, half_life_s: float, read: ScoreReader
) -> pl.DataFrame:
    """``bars`` with the sentiment of the items ``read`` gives for their :func:`news_window`:
    the one way a frame gets its news, for a fit, a scan or a calibration alike."""
    if bars.height == 0:
        return bars
    start, end = news_window(bars, timeframe, half_life_s)
    ts, scores = read(start, end)
    return with_sentiment(bars, timeframe, ts, scores, half_life_s)


def with_sentiment(
    bars: pl.DataFrame,
    timeframe: str,
    item_ts: Sequence[int] | np.ndarray,
    item_score: Sequence[float] | np.ndarray,
    half_life_s: float,
) -> pl.DataFrame:
    """``bars`` with the ``sentiment`` and ``sentiment_weight`` columns at each bar's close
    (``ts`` is a bar's open: it closes one ``timeframe`` later). No items: ``bars`` as given,
    which the ensemble reads as no news."""
    if len(item_ts) == 0 or bars.height == 0:
        return bars
    close = bars["ts"].to_numpy().astype(np.int64) + parse(timeframe).ns
    value, weight = sentiment_series(close, item_ts, item_score, half_life_s)
    return bars.with_columns(
        pl.Series("sentiment", value, dtype=pl.Float64),
        pl.Series("sentiment_weight", weight, dtype=pl.Float64),
    )
