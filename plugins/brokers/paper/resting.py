"""The paper account's working orders kept in memory, indexed by what would make them act.

A tick asks "which orders does this quote (and this trade) move?". Scanning every working order
makes each tick cost as much as the whole book of resting orders, however far from the market
they rest; here each symbol's orders are held in four lists sorted by their trigger (buy limits
by price, highest first; sell limits lowest first; buy stops by stop, lowest first; sell stops
highest first) plus the market orders, so the orders a tick moves are a prefix of each list:
found by bisection, and a tick that moves none costs the same with 0 or 10,000 resting orders.

The index holds no account state of its own: :class:`~plugins.brokers.paper.ledger.PaperLedger`
fills it from the file, applies its own connection's writes to it, and drops it when another
connection has committed or a transaction of its own rolls back.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field
from decimal import Decimal

from engine.model import Order, OrderType, Side

# a sort key: (trigger as sorted, seq, client id)
_Key = tuple[Decimal, int, str]
_LISTS = ("buy_limit", "sell_limit", "buy_stop", "sell_stop")


def acts(
    order: Order,
    quote: tuple[Decimal, Decimal] | None,
    trade: tuple[Decimal, Decimal] | None,
) -> bool:
    """Whether market data (the quote, the trade if any) moves ``order`` now: a market order
    always, a stop once triggered (a buy stop when the ask reaches it, a sell stop when the bid
    does), a limit if the trade went strictly through its price."""
    if order.type is OrderType.MARKET:
        return True
    if order.type is OrderType.STOP:
        if quote is None or order.stop is None:
            return False
        return quote[1] >= order.stop if order.side is Side.BUY else quote[0] <= order.stop
    if order.type is OrderType.LIMIT and trade is not None and order.price is not None:
        return trade[0] < order.price if order.side is Side.BUY else trade[0] > order.price
    return False


def _slot(order: Order) -> tuple[str, Decimal] | None:
    """Which list ``order`` sorts into and its key there (None: a market order, or one that
    market data never moves, such as a limit without a price)."""
    buy = order.side is Side.BUY
    if order.type is OrderType.LIMIT and order.price is not None:
        return ("buy_limit", -order.price) if buy else ("sell_limit", order.price)
    if order.type is OrderType.STOP and order.stop is not None:
        return ("buy_stop", order.stop) if buy else ("sell_stop", -order.stop)
    return None


@dataclass(slots=True)
class _Symbol:
    """One symbol's working orders: by client id (with their seq), and sorted by trigger."""

    orders: dict[str, tuple[int, Order]] = field(default_factory=dict)
    market: dict[str, int] = field(default_factory=dict)
    lists: dict[str, list[_Key]] = field(default_factory=lambda: {k: [] for k in _LISTS})

    def add(self, seq: int, order: Order) -> None:
        self.orders[order.client_id] = (seq, order)
        slot = _slot(order)
        if slot is not None:
            insort(self.lists[slot[0]], (slot[1], seq, order.client_id))
        elif order.type is OrderType.MARKET:
            self.market[order.client_id] = seq

    def remove(self, client_id: str) -> int | None:
        """Forget ``client_id``; returns its seq (None if it was not here)."""
        found = self.orders.pop(client_id, None)
        if found is None:
            return None
        seq, order = found
        slot = _slot(order)
        if slot is not None:
            keys = self.lists[slot[0]]
            key = (slot[1], seq, client_id)
            i = bisect_left(keys, key)
            if i < len(keys) and keys[i] == key:
                del keys[i]
        self.market.pop(client_id, None)
        return seq

    def any_moved(
        self, quote: tuple[Decimal, Decimal] | None, trade: tuple[Decimal, Decimal] | None
    ) -> bool:
        """Whether :meth:`moved` would find any: the first key of each list decides."""
        if self.market:
            return True
        lists = self.lists
        if trade is not None:
            price = trade[0]
            if (bl := lists["buy_limit"]) and bl[0][0] < -price:
                return True
            if (sl := lists["sell_limit"]) and sl[0][0] < price:
                return True
        if quote is not None:
            if (bs := lists["buy_stop"]) and bs[0][0] <= quote[1]:
                return True
            if (ss := lists["sell_stop"]) and ss[0][0] <= -quote[0]:
                return True
        return False

    def moved(
        self, quote: tuple[Decimal, Decimal] | None, trade: tuple[Decimal, Decimal] | None
    ) -> list[tuple[int, str]]:
        """(seq, client id) of the orders the market data moves, in no particular order."""
        out = [(seq, cid) for cid, seq in self.market.items()]
        if trade is not None:
            price = trade[0]
            # buy limits: price > trade, i.e. -price < -trade; sell limits: price < trade
            keys = self.lists["buy_limit"]
            out += [(s, c) for _, s, c in keys[: bisect_left(keys, (-price,))]]
            keys = self.lists["sell_limit"]
            out += [(s, c) for _, s, c in keys[: bisect_left(keys, (price,))]]
        if quote is not None:
            bid, ask = quote
            # buy stops: stop <= ask; sell stops: stop >= bid, i.e. -stop <= -bid
            keys = self.lists["buy_stop"]
            out += [(s, c) for _, s, c in keys[: _upto(keys, ask)]]
            keys = self.lists["sell_stop"]
            out += [(s, c) for _, s, c in keys[: _upto(keys, -bid)]]
        return out


def _upto(keys: list[_Key], bound: Decimal) -> int:
    """How many keys have their trigger <= ``bound``."""
    i = bisect_right(keys, (bound,))
    while i < len(keys) and keys[i][0] == bound:  # (bound, seq, ...) sorts after (bound,)
        i += 1
    return i


class RestingOrders:
    """The working orders of an account, per symbol, with their seq (arrival order)."""

    def __init__(self, rows: list[tuple[int, Order]]) -> None:
        self._symbols: dict[str, _Symbol] = {}
        self._where: dict[str, str] = {}
        for seq, order in rows:
            self.put(seq, order)

    def put(self, seq: int, order: Order) -> None:
        """Store ``order`` as now written (a final one is dropped)."""
        symbol = self._where.pop(order.client_id, None)
        if symbol is not None:
            self._symbols[symbol].remove(order.client_id)
        if order.status.is_final:
            return
        self._symbols.setdefault(order.symbol, _Symbol()).add(seq, order)
        self._where[order.client_id] = order.symbol

    def working(self, symbol: str | None = None) -> list[Order]:
        """Working orders of ``symbol`` (or all), in arrival order."""
        books = [self._symbols.get(symbol)] if symbol is not None else self._symbols.values()
        rows = [row for book in books if book is not None for row in book.orders.values()]
        rows.sort(key=lambda r: r[0])
        return [o for _, o in rows]

    def any_moved(
        self,
        symbol: str,
        quote: tuple[Decimal, Decimal] | None,
        trade: tuple[Decimal, Decimal] | None,
    ) -> bool:
        """Whether the quote and trade move any working order of ``symbol``."""
        book = self._symbols.get(symbol)
        return book is not None and book.any_moved(quote, trade)

    def moved(
        self,
        symbol: str,
        quote: tuple[Decimal, Decimal] | None,
        trade: tuple[Decimal, Decimal] | None,
    ) -> list[Order]:
        """The working orders of ``symbol`` that the quote and trade move (:func:`acts`), in
        arrival (time-priority) order; costs what those orders cost, not what all do."""
        book = self._symbols.get(symbol)
        if book is None:
            return []
        found = book.moved(quote, trade)
        found.sort()
        return [book.orders[cid][1] for _, cid in found]
