"""Every word the command language knows, in one place: verbs, order words, query topics,
fractions, currencies, the built-in names of instruments.

Typo correction (:mod:`engine.commands.text`) reads a misspelt token as one of these words, so
a word added here is also a word a typo may become: keep each table to what it means.
"""

from __future__ import annotations

from decimal import Decimal

TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "4h", "1d")
TF_ALIASES = {
    "1min": "1m",
    "5min": "5m",
    "15min": "15m",
    "30min": "30m",
    "60m": "1h",
    "1hr": "1h",
    "h1": "1h",
    "h4": "4h",
    "m1": "1m",
    "m5": "5m",
    "m15": "15m",
    "m30": "30m",
    "d1": "1d",
    "daily": "1d",
    "day": "1d",
    "4hr": "4h",
}

SIDES = {"buy": "buy", "long": "buy", "b": "buy", "sell": "sell", "short": "sell", "s": "sell"}
TYPES = {"market": "market", "mkt": "market", "limit": "limit", "lmt": "limit", "stop": "stop"}
TIFS = ("gtc", "ioc", "fok", "day")
LEVELS = {
    "sl": "sl",
    "s/l": "sl",
    "stoploss": "sl",
    "stop-loss": "sl",
    "tp": "tp",
    "t/p": "tp",
    "takeprofit": "tp",
    "take-profit": "tp",
    "target": "tp",
}
"""The protective levels as written in an order (``stop`` alone there is a stop order)."""

AMEND_LEVELS = {**LEVELS, "stop": "sl", "profit": "tp"}
"""In an amendment there is no entry type, so ``stop`` is the stop-loss."""

BIGRAMS = {
    ("stop", "loss"): "sl",
    ("take", "profit"): "tp",
    ("per", "cent"): "percent",
    ("at", "market"): "market",
}

FRACTIONS = {
    "half": Decimal("0.5"),
    "quarter": Decimal("0.25"),
    "all": Decimal(1),
    "everything": Decimal(1),
    "entire": Decimal(1),
    "whole": Decimal(1),
}
"""Words for a share of the current position (``half my eth``)."""

CURRENCIES = {
    "$": "USD",
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "bucks": "USD",
    "usdt": "USDT",
    "usdc": "USDC",
    "€": "EUR",
    "eur": "EUR",
    "euros": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "jpy": "JPY",
}
SIGNS = frozenset({"$", "€", "£", "dollar", "dollars", "bucks", "euros"})
"""Currency words that never name an instrument; ``usd`` or ``eur`` may (``eur`` -> EURUSD), so
those are a currency only next to a number."""

USD_LIKE = frozenset({"USD", "USDT", "USDC"})
"""Quote currencies a dollar notional may be given in (``$500 of btc`` on BTC/USDT)."""

KNOWN_QUOTES = ("USDT", "USDC", "BUSD", "USD", "EUR", "GBP", "JPY", "BTC", "ETH")

FILLER = frozenset(
    {"of", "the", "a", "an", "please", "me", "to", "for", "with", "and", "on", "units"}
)
ORDER_FILLER = FILLER | {"worth", "position", "positions", "holdings", "my"}
CLOSE_FILLER = FILLER | {"my", "position", "positions", "out", "holdings", "entire", "whole"}
AMEND_FILLER = FILLER | {"my", "at", "level", "new", "it", "position", "price", "is"}

LEADING = (
    ("i", "want", "to"),
    ("i'd", "like", "to"),
    ("id", "like", "to"),
    ("can", "you"),
    ("could", "you"),
    ("let's",),
    ("lets",),
    ("please",),
    ("pls",),
    ("plz",),
    ("kindly",),
)
"""Polite openings dropped before the verb."""

TOPICS = {
    "pnl": "pnl",
    "p&l": "pnl",
    "p/l": "pnl",
    "profit": "pnl",
    "profits": "pnl",
    "doing": "pnl",
    "positions": "positions",
    "position": "positions",
    "pos": "positions",
    "holdings": "positions",
    "portfolio": "positions",
    "orders": "orders",
    "order": "orders",
    "balance": "balance",
    "balances": "balance",
    "cash": "balance",
    "equity": "balance",
    "funds": "balance",
    "account": "balance",
    "risk": "risk",
    "exposure": "risk",
    "price": "price",
    "quote": "price",
}
QUERY_HEADS = frozenset(
    {"what", "what's", "whats", "how", "how's", "hows", "my", "list", "display", "get", "check"}
)
QUERY_FILLER = frozenset(
    {
        *("what", "what's", "whats", "is", "are", "was", "my", "the", "show", "me", "how"),
        *("how's", "hows", "much", "many", "do", "does", "i", "have", "hold", "own", "current"),
        *("currently", "list", "all", "open", "get", "view", "display", "of", "for", "on", "in"),
        *("tell", "give", "check", "now", "please", "a", "an", "any", "total", "today", "right"),
        *("at", "am", "there", "about", "see", "got", "still", "and", "trading", "worth"),
    }
)
HOLDING = frozenset({"have", "hold", "own", "my", "got"})
"""Words that make a question about a symbol one about the position in it."""

SHOW_VERBS = frozenset({"show", "open", "view"})
"""A chart (``show btc``) unless a query topic follows (``show positions``)."""

AMEND_VERBS = frozenset({"set", "move", "amend", "modify", "change", "update", "adjust", "put"})
NO_PRICE = frozenset({"breakeven", "break-even", "be", "entry"})

VERBS: dict[str, str] = {
    "chart": "chart",
    "show": "chart",
    "open": "chart",
    "view": "chart",
    "tf": "timeframe",
    "timeframe": "timeframe",
    "interval": "timeframe",
    "close": "close",
    "exit": "close",
    "flatten": "flatten",
    "cancel": "cancel",
    "scan": "scan",
    "backtest": "backtest",
    "bt": "backtest",
    "test": "backtest",
    "add": "watch_add",
    "watch": "watch_add",
    "remove": "watch_remove",
    "rm": "watch_remove",
    "unwatch": "watch_remove",
    "search": "search",
    "find": "search",
    "kill": "kill",
    "strategy": "strategy",
    "strat": "strategy",
    "stress": "stress",
    "help": "help",
    "?": "help",
    "settings": "settings",
    "prefs": "settings",
    "theme": "theme",
    "quit": "quit",
}

HEAD_WORDS: dict[str, str] = {
    **{w: f"verb:{v}" for w, v in VERBS.items()},
    **{w: f"side:{v}" for w, v in SIDES.items()},
    **{w: "amend" for w in AMEND_VERBS},
    **{w: "amend" for w in LEVELS},
    **{w: f"query:{t}" for w, t in TOPICS.items()},
    **{w: "query" for w in QUERY_HEADS},
}
"""What a first word may be, each with its meaning: two spellings of one meaning are one
reading when a typo is near both."""

ORDER_WORDS: dict[str, str] = {
    "twap": "twap",
    "vwap": "vwap",
    **TYPES,
    **LEVELS,
    **{w: w for w in TIFS},
    **{w: f"fraction:{w}" for w in FRACTIONS},
}
CLOSE_WORDS: dict[str, str] = {w: f"fraction:{w}" for w in FRACTIONS}
AMEND_WORDS: dict[str, str] = dict(AMEND_LEVELS)
QUERY_WORDS: dict[str, str] = dict(TOPICS)

KNOWN_WORDS = frozenset(
    {
        *HEAD_WORDS,
        *ORDER_WORDS,
        *AMEND_WORDS,
        *QUERY_WORDS,
        *ORDER_FILLER,
        *CLOSE_FILLER,
        *AMEND_FILLER,
        *QUERY_FILLER,
        *CURRENCIES,
        *TIMEFRAMES,
        *TF_ALIASES,
        *NO_PRICE,
        "at",
        "@",
        "go",
        "loss",
        "take",
        "percent",
        "lot",
        "lots",
    }
)
"""A token that is one of these is never corrected into another word."""

DEFAULT_ALIASES: dict[str, str] = {
    "bitcoin": "BTC",
    "btc": "BTC",
    "xbt": "BTC",
    "ether": "ETH",
    "ethereum": "ETH",
    "eth": "ETH",
    "solana": "SOL",
    "sol": "SOL",
    "ripple": "XRP",
    "dogecoin": "DOGE",
    "cardano": "ADA",
    "litecoin": "LTC",
    "gold": "XAU",
    "silver": "XAG",
    "cable": "GBPUSD",
    "euro": "EURUSD",
    "fiber": "EURUSD",
    "fibre": "EURUSD",
    "yen": "USDJPY",
    "gopher": "USDJPY",
    "aussie": "AUDUSD",
    "kiwi": "NZDUSD",
    "loonie": "USDCAD",
    "swissie": "USDCHF",
    "crude": "WTI",
    "oil": "WTI",
    "wti": "WTI",
    "crude oil": "WTI",
    "brent": "BRENT",
    "natural gas": "NATGAS",
    "natgas": "NATGAS",
    "nat gas": "NATGAS",
    "henry hub": "NATGAS",
    "spx": "US500",
    "s&p": "US500",
    "s&p500": "US500",
    "s&p 500": "US500",
    "sp500": "US500",
    "nasdaq": "US100",
    "ndx": "US100",
    "nas100": "US100",
    "dow": "US30",
    "dow jones": "US30",
    "dax": "DE40",
}
"""Common names of instruments, lower-case name -> a symbol or a base asset; the user's own
(``[commands] aliases`` in the config) are merged over these."""

NEWS_NAMES: dict[str, tuple[str, ...]] = {
    "opec": ("WTI", "BRENT"),
    "opec+": ("WTI", "BRENT"),
    "crude": ("WTI", "BRENT"),
    "oil": ("WTI", "BRENT"),
    "crude oil": ("WTI", "BRENT"),
    "lng": ("NATGAS",),
    "wti-brent": ("BRENT-WTI",),
}
"""Names as headlines use them, over :data:`DEFAULT_ALIASES` for news only
(:func:`engine.signals.sentiment.resolve_symbols`): a headline about OPEC or crude concerns
both benchmarks, while ``chart crude`` has to pick one (WTI). Kept out of the command bar's
table where a name is a typo away from a command word (``lng`` for ``long``)."""

HELP = (
    "buy|sell QTY SYMBOL [limit|stop PRICE | @PRICE] [sl PRICE] [tp PRICE]",
    "buy $500 of btc · sell half my eth · close 25% of SYMBOL",
    "close SYMBOL|all · cancel ID|all · flatten · kill on|off",
    "set stop on SYMBOL to PRICE · tp SYMBOL PRICE",
    "pnl · positions · orders · balance · risk · price of SYMBOL",
    "chart SYMBOL [TF] · tf 1m|5m|15m|1h|4h|1d",
    "scan [SYMBOL...] · backtest STRATEGY [key=value ...] [on SYMBOL] [TF]",
    "strategy start|stop NAME[:k=v,...] SYMBOL [TF]",
    "add SYMBOL · remove SYMBOL · search TEXT",
    "stress [SHOCKS] [propagate] (the risk screen; e.g. stress btc=-30%, crypto=-10%)",
    "help · settings · theme NAME · quit",
)
