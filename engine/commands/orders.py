"""``buy 0.1 btc limit 60000 sl 58000``, ``buy $500 of btc``, ``sell half my eth``: an order;
``buy 5 btc twap 30m``, ``sell 20 eth vwap over 2h max 10%``: one worked over time.

A parsed order is a proposal: the client opens the ticket (or a confirm button) pre-filled.
Exactly one amount may be given, a quantity, a notional in the quote currency or a fraction of
the current position, and none at all leaves it to the ticket. Protective levels on the wrong
side of the entry price are refused here; a market order's entry is not known to the parser,
so only its stop-loss against its take-profit is checked.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.commands.context import Context
from engine.commands.lexicon import (
    BIGRAMS,
    CURRENCIES,
    FRACTIONS,
    LEVELS,
    ORDER_FILLER,
    ORDER_WORDS,
    SIGNS,
    TIFS,
    TYPES,
    USD_LIKE,
)
from engine.commands.model import Command, CommandError
from engine.commands.symbols import quote_of
from engine.commands.text import fmt, is_number, is_percent, looks_numeric, number, percent
from engine.timeframes import TimeframeError, parse_duration

USAGE = (
    "buy|sell QTY SYMBOL [limit|stop PRICE | @PRICE] [sl PRICE] [tp PRICE]"
    " [twap|vwap [over] DURATION [max PCT]]"
)
ALGOS = ("twap", "vwap")
CAP_WORDS = ("max", "pov", "participation")
_ONE_AMOUNT = "give one amount: a quantity (0.1), a notional ($500) or a fraction (half)"


def expand(tokens: list[str]) -> list[str]:
    """``sl=1.08`` reads as ``sl 1.08``; ``stop loss`` as ``sl``, ``take profit`` as ``tp``."""
    parts = [part for tok in tokens for part in tok.split("=", 1) if part]
    out: list[str] = []
    for tok in parts:
        pair = (out[-1].lower(), tok.lower()) if out else None
        if pair in BIGRAMS or (pair and pair[0] == "@" and pair[1] == "market"):
            out[-1] = BIGRAMS.get(pair, "market")
        else:
            out.append(tok)
    return out


class _Order:
    """The order being read, word by word."""

    def __init__(self, side: str, ctx: Context) -> None:
        self.ctx = ctx
        self.e: dict[str, Any] = {"side": side, "type": "market"}
        self.amount: str | None = None
        self.qty_at = -1
        self.ccy_token: str | None = None
        self.mine = False

    def set_amount(self, kind: str, value: Decimal, tok: str) -> None:
        if self.amount is not None:
            raise CommandError(f"did not understand {tok!r} in the order; {_ONE_AMOUNT}")
        self.amount = kind
        self.e[kind] = value

    def set_price(self, value: Decimal) -> None:
        if "price" in self.e:
            raise CommandError(
                f"two entry prices ({fmt(self.e['price'])} and {fmt(value)}); "
                "for a stop-loss write sl PRICE"
            )
        self.e["price"] = value

    def read(self, words: list[str]) -> None:
        i = 0
        while i < len(words):
            i = self.word(words, i)

    def word(self, words: list[str], i: int) -> int:
        """Read the word at ``i``; the index of the next one."""
        tok, low = words[i], words[i].lower()
        nxt = words[i + 1] if i + 1 < len(words) else None
        if low in TYPES:
            return self.order_type(tok, low, nxt, i)
        if low in ("@", "at"):
            if nxt is None or not looks_numeric(nxt):
                raise CommandError(f"{tok!r} needs a price after it")
            self.set_price(number(nxt, "the price"))
            if self.e["type"] == "market":
                self.e["type"] = "limit"
            return i + 2
        if low in LEVELS:
            key = LEVELS[low]
            if nxt is not None and nxt.lower() in ("@", "at") and i + 2 < len(words):
                i, nxt = i + 1, words[i + 2]
            if nxt is None:
                raise CommandError(f"{tok!r} needs a price after it")
            self.e[key] = number(nxt, f"the {key.upper()} price")
            return i + 2
        if low in TIFS:
            self.e["tif"] = low.upper()
            return i + 1
        if low in ALGOS:
            return self.algo(words, low, i)
        if low in CAP_WORDS and "algo" in self.e:
            if nxt is None or not is_percent(nxt.lower()):
                raise CommandError(f"{tok!r} needs a share of the volume after it: max 10%")
            self.e["max_participation"] = percent(nxt.lower())
            return i + 2
        if low in CURRENCIES:
            after = self.currency(tok, low, nxt, i)
            if after is not None:
                return after
        if low == "worth" and self.qty_at == i - 1 and self.amount == "qty":
            raise CommandError(
                f"{words[i - 1]} worth in which currency? e.g. 250 usdt worth of eth"
            )
        if low in ORDER_FILLER:
            self.mine = self.mine or low == "my"
            return i + 1
        if low in ("lot", "lots"):
            raise CommandError("give the quantity in units, not lots (a lot depends on the broker)")
        if low in FRACTIONS:
            self.set_amount("fraction", FRACTIONS[low], tok)
            return i + 1
        if is_percent(low):
            self.set_amount("fraction", percent(low), tok)
            return i + 1
        if looks_numeric(tok):
            self.set_amount("qty", number(tok, "the quantity"), tok)
            self.qty_at = i
            return i + 1
        return self.name(words, tok, i)

    def algo(self, words: list[str], low: str, i: int) -> int:
        """``twap [over] 30m``: the horizon follows the algorithm's name."""
        if "algo" in self.e:
            raise CommandError(f"one algorithm: {self.e['algo']} or {low}?")
        j = i + 1
        if j < len(words) and words[j].lower() in ("over", "for", "in"):
            j += 1
        try:
            over = words[j]
            parse_duration(over)
        except (IndexError, TimeframeError):
            raise CommandError(
                f"{low} needs a horizon after it: {low} 30m, {low} over 2h"
            ) from None
        self.e["algo"], self.e["over"] = low, over.lower()
        return j + 1

    def order_type(self, tok: str, low: str, nxt: str | None, i: int) -> int:
        kind = TYPES[low]
        if self.e["type"] not in ("market", kind):
            raise CommandError(
                f"one order type: {self.e['type']} or {kind}? (for a stop-loss write sl PRICE)"
            )
        self.e["type"] = kind
        if kind != "market" and nxt is not None and is_number(nxt):
            self.set_price(number(nxt, f"the {low} price"))
            return i + 2
        return i + 1

    def currency(self, tok: str, low: str, nxt: str | None, i: int) -> int | None:
        """A currency beside a number makes it a notional (the index after); None when
        ``tok`` is no currency here (``eur`` alone is EURUSD)."""
        if self.qty_at == i - 1 and self.amount == "qty":
            self.amount = "notional"
            self.e["notional"] = self.e.pop("qty")
            after = i + 1
        elif nxt is not None and looks_numeric(nxt):
            self.set_amount("notional", number(nxt, "the notional"), nxt)
            after = i + 2
        elif low in SIGNS:
            raise CommandError(f"{tok!r} needs an amount: e.g. $500 of btc")
        else:
            return None
        self.e["notional_ccy"] = CURRENCIES[low]
        self.ccy_token = low
        return after

    def name(self, words: list[str], tok: str, i: int) -> int:
        if self.ctx.names_symbol(tok) and "symbol" not in self.e:
            self.e["symbol"] = self.ctx.resolve(tok)
            return i + 1
        corrected = self.ctx.correct(tok, ORDER_WORDS)
        if corrected is not None:
            words[i] = corrected
            return i
        if "symbol" in self.e:
            raise CommandError(f"did not understand {tok!r} in the order; try: {USAGE}")
        self.e["symbol"] = self.ctx.resolve(tok)
        return i + 1

    def finish(self) -> Command:
        e = self.e
        if "symbol" not in e:
            raise CommandError(self.no_symbol())
        if self.amount is None and self.mine:
            self.set_amount("fraction", Decimal(1), "my")
        if "algo" in e and (e["type"] != "market" or "sl" in e or "tp" in e):
            raise CommandError(
                f"a {e['algo']} order works market or limit children by itself: no"
                " limit/stop price or sl/tp with it"
            )
        if "max_participation" in e and "algo" not in e:
            raise CommandError("max PCT is a participation cap: give twap or vwap with it")
        if e["type"] in ("limit", "stop") and "price" not in e:
            raise CommandError(f"a {e['type']} order needs a price: {e['type']} PRICE")
        if self.amount == "notional":
            _check_currency(e["symbol"], e["notional_ccy"])
        check_levels(e["side"], e.get("price"), e.get("sl"), e.get("tp"))
        e["understood"] = understood(e)
        e["corrections"] = list(self.ctx.corrections)
        return Command("order", e)

    def no_symbol(self) -> str:
        e = self.e
        if self.ccy_token and self.ccy_token not in SIGNS and self.ctx.names_symbol(self.ccy_token):
            amount = fmt(e["notional"])
            ccy = e["notional_ccy"]
            try:
                other = self.ctx.resolve(self.ccy_token)
            except CommandError:  # a currency that prices several symbols names none of them
                return f"{amount} {ccy} of which symbol? ({ccy} prices several)"
            return (
                f"'{amount} {self.ccy_token}' is ambiguous: {amount} {other}, "
                f"or {amount} {ccy} of which symbol?"
            )
        return f"which symbol? try: {e['side']} 0.1 BTC/USDT"


def parse_order(side: str, tokens: list[str], ctx: Context) -> Command:
    order = _Order(side, ctx)
    order.read(expand(tokens))
    return order.finish()


def _check_currency(symbol: str, ccy: str) -> None:
    quote = quote_of(symbol)
    if quote is None or quote == ccy or (quote in USD_LIKE and ccy in USD_LIKE):
        return
    raise CommandError(f"{symbol} is quoted in {quote}: give the notional in {quote}, not {ccy}")


def check_levels(side: str, price: Decimal | None, sl: Decimal | None, tp: Decimal | None) -> None:
    """A buy's stop-loss below and take-profit above (the entry and each other); a sell's the
    other way round. Equal is wrong too: a level at the entry closes at once."""
    buy = side == "buy"
    below, above = ("below", "above") if buy else ("above", "below")
    if sl is not None and tp is not None and (sl >= tp if buy else sl <= tp):
        raise CommandError(
            f"a {side}'s stop-loss goes {below} its take-profit: sl {fmt(sl)}, tp {fmt(tp)}"
        )
    if price is None:
        return
    if sl is not None and (sl >= price if buy else sl <= price):
        raise CommandError(
            f"the stop-loss {fmt(sl)} is on the wrong side: a {side}'s stop-loss goes {below} "
            f"the entry price {fmt(price)}"
        )
    if tp is not None and (tp <= price if buy else tp >= price):
        raise CommandError(
            f"the take-profit {fmt(tp)} is on the wrong side: a {side}'s take-profit goes "
            f"{above} the entry price {fmt(price)}"
        )


def understood(e: dict[str, Any]) -> str:
    """The order as the parser read it, in one canonical line."""
    parts = [e["side"]]
    if "qty" in e:
        parts.append(fmt(e["qty"]))
    elif "notional" in e:
        parts.append(f"{fmt(e['notional'])} {e['notional_ccy']} of")
    elif "fraction" in e:
        parts.append(f"{fmt(e['fraction'] * 100)}% of")
    parts.append(e["symbol"] + (" position" if "fraction" in e else ""))
    parts.append(e["type"])
    if "price" in e:
        parts.append(fmt(e["price"]))
    for key in ("sl", "tp"):
        if key in e:
            parts.append(f"{key} {fmt(e[key])}")
    if "tif" in e:
        parts.append(e["tif"])
    if "algo" in e:
        parts.append(f"{e['algo']} over {e['over']}")
        if "max_participation" in e:
            parts.append(f"max {fmt(e['max_participation'] * 100)}%")
    return " ".join(parts)
