"""The simulated broker of the backtester: backtesting.py's order semantics as numba kernels.

State lives in small float64 tables so one set of kernels serves both the all-numba loop
(vectorised strategies) and the per-bar Python loop (``on_bar`` strategies):

- ``TR`` open trades, one row each: id, size (signed units), entry price (spread-adjusted),
  entry bar, SL order id, TP order id, SL price, TP price.
- ``OR`` the order queue *in processing order*: id, kind, size (signed; a fraction of the
  available margin when ``is_frac``), is_frac, limit, stop, sl, tp, parent trade id.
- ``CT`` closed trades: size, entry bar, exit bar, entry price, exit price, SL, TP,
  commissions, PnL (net), trade id.
- ``FL`` fills: bar, trade id, signed size, price, fee, 0 entry / 1 exit, the price before
  slippage and spread (``S_REF`` while a fill is booked: what attribution measures from).
- ``S`` scalars (see the ``S_*`` indices) and ``P`` settings (``P_*``).

The semantics are those of backtesting.py 0.6 (``_Broker._process_orders``), kept in the same
order so the results match it trade for trade: queued orders fill at the bar's open (or the
previous close with ``trade_on_close``); a relative size is turned into whole units (``lot``)
from the margin available at the bar's close; opposite trades are closed FIFO unless hedging;
commission is charged on entry and exit; a stop-loss and take-profit on the same bar: the
stop-loss, queued first, wins (the worse outcome); SL/TP of a trade opened by a market order
are checked on the bar it opened.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

K_ENTRY, K_CLOSE, K_SL, K_TP = 0, 1, 2, 3

S_CASH, S_NT, S_NO, S_NC, S_NF, S_TID, S_OID, S_STOPPED, S_CANCELLED, S_OVERFLOW, S_REF = range(11)
S_LEN = 12

(
    P_SPREAD,
    P_COMM_FIXED,
    P_COMM_REL,
    P_LEVERAGE,
    P_TRADE_ON_CLOSE,
    P_HEDGING,
    P_EXCLUSIVE,
    P_LOT,
    P_ALLOW_SHORT,
    P_FINALIZE,
) = range(10)
P_LEN = 10

TR_COLS, OR_COLS, CT_COLS, FL_COLS = 8, 9, 10, 7


def new_state(
    cash: float, max_trades: int, max_orders: int, cap: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    S = np.zeros(S_LEN)
    S[S_CASH] = float(cash)
    return (
        np.zeros((max_trades, TR_COLS)),
        np.zeros((max_orders, OR_COLS)),
        np.zeros((cap, CT_COLS)),
        np.zeros((cap * 2, FL_COLS)),
        S,
    )


@njit(cache=True)
def grow(a: np.ndarray, rows: int) -> np.ndarray:  # pragma: no cover - compiled
    out = np.zeros((rows, a.shape[1]))
    out[: a.shape[0]] = a
    return out


@njit(cache=True)
def room_needed(S: np.ndarray) -> int:  # pragma: no cover - compiled
    """Closed-trade/fill rows one bar can add at most (every order closing every trade)."""
    return int((S[S_NO] + 2) * (S[S_NT] + 2) + S[S_NT] + 2)


@njit(cache=True)
def _comm(P: np.ndarray, size: float, price: float) -> float:  # pragma: no cover
    return P[P_COMM_FIXED] + abs(size) * price * P[P_COMM_REL]


@njit(cache=True)
def _find(a: np.ndarray, n: int, ident: float) -> int:  # pragma: no cover
    for j in range(n):
        if a[j, 0] == ident:
            return j
    return -1


@njit(cache=True)
def _remove_row(a: np.ndarray, n: int, j: int) -> None:  # pragma: no cover
    for r in range(j, n - 1):
        a[r, :] = a[r + 1, :]


@njit(cache=True)
def _remove_order(OR: np.ndarray, S: np.ndarray, oid: float) -> None:  # pragma: no cover
    n = int(S[S_NO])
    j = _find(OR, n, oid)
    if j >= 0:
        _remove_row(OR, n, j)
        S[S_NO] = n - 1


@njit(cache=True)
def _insert_order(
    OR: np.ndarray,
    S: np.ndarray,
    front: bool,
    kind: int,
    size: float,
    is_frac: bool,
    limit: float,
    stop: float,
    sl: float,
    tp: float,
    parent: float,
) -> float:  # pragma: no cover - compiled
    n = int(S[S_NO])
    if n >= OR.shape[0]:
        S[S_OVERFLOW] = 1.0
        return -1.0
    if front:
        for r in range(n, 0, -1):
            OR[r, :] = OR[r - 1, :]
        j = 0
    else:
        j = n
    oid = S[S_OID]
    S[S_OID] = oid + 1
    OR[j, 0] = oid
    OR[j, 1] = kind
    OR[j, 2] = size
    OR[j, 3] = 1.0 if is_frac else 0.0
    OR[j, 4] = limit
    OR[j, 5] = stop
    OR[j, 6] = sl
    OR[j, 7] = tp
    OR[j, 8] = parent
    S[S_NO] = n + 1
    return oid


@njit(cache=True)
def equity(TR: np.ndarray, S: np.ndarray, price: float) -> float:  # pragma: no cover
    eq = S[S_CASH]
    for j in range(int(S[S_NT])):
        eq += TR[j, 1] * (price - TR[j, 2])
    return eq


@njit(cache=True)
def _margin_available(
    TR: np.ndarray, S: np.ndarray, P: np.ndarray, price: float
) -> float:  # pragma: no cover
    used = 0.0
    for j in range(int(S[S_NT])):
        used += abs(TR[j, 1]) * price / P[P_LEVERAGE]
    return max(0.0, equity(TR, S, price) - used)


@njit(cache=True)
def _book_close(
    CT: np.ndarray,
    FL: np.ndarray,
    S: np.ndarray,
    P: np.ndarray,
    tid: float,
    size: float,
    entry_price: float,
    entry_bar: float,
    price: float,
    bar: int,
    sl: float,
    tp: float,
) -> None:  # pragma: no cover - compiled
    exit_fee = _comm(P, size, price)
    entry_fee = _comm(P, size, entry_price)
    gross = size * (price - entry_price)
    S[S_CASH] += gross - exit_fee
    k = int(S[S_NC])
    CT[k, 0] = size
    CT[k, 1] = entry_bar
    CT[k, 2] = bar
    CT[k, 3] = entry_price
    CT[k, 4] = price
    CT[k, 5] = sl
    CT[k, 6] = tp
    CT[k, 7] = exit_fee + entry_fee
    CT[k, 8] = gross - exit_fee - entry_fee
    CT[k, 9] = tid
    S[S_NC] = k + 1
    f = int(S[S_NF])
    FL[f, 0] = bar
    FL[f, 1] = tid
    FL[f, 2] = -size
    FL[f, 3] = price
    FL[f, 4] = exit_fee
    FL[f, 5] = 1.0
    FL[f, 6] = S[S_REF]
    S[S_NF] = f + 1


@njit(cache=True)
def _close_trade(
    TR: np.ndarray,
    OR: np.ndarray,
    CT: np.ndarray,
    FL: np.ndarray,
    S: np.ndarray,
    P: np.ndarray,
    j: int,
    price: float,
    bar: int,
) -> None:  # pragma: no cover - compiled
    if TR[j, 4] >= 0:
        _remove_order(OR, S, TR[j, 4])
    if TR[j, 5] >= 0:
        _remove_order(OR, S, TR[j, 5])
    _book_close(
        CT, FL, S, P, TR[j, 0], TR[j, 1], TR[j, 2], TR[j, 3], price, bar, TR[j, 6], TR[j, 7]
    )
    n = int(S[S_NT])
    _remove_row(TR, n, j)
    S[S_NT] = n - 1


@njit(cache=True)
def _reduce_trade(
    TR: np.ndarray,
    OR: np.ndarray,
    CT: np.ndarray,
    FL: np.ndarray,
    S: np.ndarray,
    P: np.ndarray,
    j: int,
    price: float,
    size: float,
    bar: int,
) -> None:  # pragma: no cover - compiled
    left = TR[j, 1] + size
    if left == 0:
        _close_trade(TR, OR, CT, FL, S, P, j, price, bar)
        return
    TR[j, 1] = left
    n = int(S[S_NO])
    for col in (4, 5):
        if TR[j, col] >= 0:
            k = _find(OR, n, TR[j, col])
            if k >= 0:
                OR[k, 2] = -left
    _book_close(CT, FL, S, P, TR[j, 0], -size, TR[j, 2], TR[j, 3], price, bar, math.nan, math.nan)


@njit(cache=True)
def _open_trade(
    TR: np.ndarray,
    OR: np.ndarray,
    FL: np.ndarray,
    S: np.ndarray,
    P: np.ndarray,
    price: float,
    size: float,
    sl: float,
    tp: float,
    bar: int,
) -> None:  # pragma: no cover - compiled
    n = int(S[S_NT])
    tid = S[S_TID]
    S[S_TID] = tid + 1
    TR[n, 0] = tid
    TR[n, 1] = size
    TR[n, 2] = price
    TR[n, 3] = bar
    TR[n, 4] = -1.0
    TR[n, 5] = -1.0
    TR[n, 6] = sl
    TR[n, 7] = tp
    S[S_NT] = n + 1
    fee = _comm(P, size, price)
    S[S_CASH] -= fee
    f = int(S[S_NF])
    FL[f, 0] = bar
    FL[f, 1] = tid
    FL[f, 2] = size
    FL[f, 3] = price
    FL[f, 4] = fee
    FL[f, 5] = 0.0
    FL[f, 6] = S[S_REF]
    S[S_NF] = f + 1
    if not math.isnan(tp):
        TR[n, 5] = _insert_order(
            OR, S, False, K_TP, -size, False, tp, math.nan, math.nan, math.nan, tid
        )
    if not math.isnan(sl):
        TR[n, 4] = _insert_order(
            OR, S, True, K_SL, -size, False, math.nan, sl, math.nan, math.nan, tid
        )


@njit(cache=True)
def _units(P: np.ndarray, budget: float, unit_price: float) -> float:  # pragma: no cover
    lot = P[P_LOT]
    if lot == 1.0:
        return float(int(budget // unit_price))
    return math.floor(budget / unit_price / lot) * lot


@njit(cache=True)
def process_orders(
    i: int,
    o: float,
    h: float,
    lo: float,
    c_prev: float,
    c: float,
    slip: float,
    TR: np.ndarray,
    OR: np.ndarray,
    CT: np.ndarray,
    FL: np.ndarray,
    S: np.ndarray,
    P: np.ndarray,
) -> None:  # pragma: no cover - compiled
    toc = P[P_TRADE_ON_CLOSE] > 0
    lev = P[P_LEVERAGE]
    while True:
        reprocess = False
        snapshot = OR[: int(S[S_NO]), 0].copy()
        for oid in snapshot:
            j = _find(OR, int(S[S_NO]), oid)
            if j < 0:
                continue
            kind = int(OR[j, 1])
            size = OR[j, 2]
            is_frac = OR[j, 3] > 0
            limit = OR[j, 4]
            stop_price = OR[j, 5]
            sl = OR[j, 6]
            tp = OR[j, 7]
            parent = OR[j, 8]
            is_long = size > 0
            contingent = kind in (K_SL, K_TP)
            if not math.isnan(stop_price):
                if not (h >= stop_price if is_long else lo <= stop_price):
                    continue
                OR[j, 5] = math.nan
            if not math.isnan(limit):
                hit = lo <= limit if is_long else h >= limit
                if is_long:
                    before = hit and limit <= (-math.inf if math.isnan(stop_price) else stop_price)
                else:
                    before = hit and limit >= (math.inf if math.isnan(stop_price) else stop_price)
                if not hit or before:
                    continue
                base = o if math.isnan(stop_price) else stop_price
                price = min(base, limit) if is_long else max(base, limit)
                S[S_REF] = price
            else:
                price = c_prev if (toc and not contingent) else o
                if not math.isnan(stop_price):
                    price = max(price, stop_price) if is_long else min(price, stop_price)
                S[S_REF] = price
                price += slip if is_long else -slip
            is_market = math.isnan(limit) and math.isnan(stop_price)
            bar = i - 1 if (is_market and toc and not contingent) else i

            if kind != K_ENTRY:
                tj = _find(TR, int(S[S_NT]), parent)
                if tj >= 0:
                    prev = TR[tj, 1]
                    _reduce_trade(
                        TR,
                        OR,
                        CT,
                        FL,
                        S,
                        P,
                        tj,
                        price,
                        math.copysign(min(abs(prev), abs(size)), size),
                        bar,
                    )
                if kind == K_CLOSE:
                    _remove_order(OR, S, oid)
                continue

            spread = P[P_SPREAD]
            adjusted = price * (1.0 + math.copysign(spread, size))
            adjusted_pc = adjusted + _comm(P, size, price) / abs(size)
            need = size
            if is_frac:
                budget = _margin_available(TR, S, P, c) * lev * abs(size)
                need = math.copysign(_units(P, budget, adjusted_pc), size)
                if need == 0:
                    _remove_order(OR, S, oid)
                    S[S_CANCELLED] += 1
                    continue
            if P[P_HEDGING] == 0:
                tids = TR[: int(S[S_NT]), 0].copy()
                for tid in tids:
                    tj = _find(TR, int(S[S_NT]), tid)
                    if tj < 0:
                        continue
                    tsize = TR[tj, 1]
                    if (tsize > 0) == is_long:
                        continue
                    if abs(need) >= abs(tsize):
                        _close_trade(TR, OR, CT, FL, S, P, tj, price, bar)
                        need += tsize
                    else:
                        _reduce_trade(TR, OR, CT, FL, S, P, tj, price, need, bar)
                        need = 0.0
                    if need == 0:
                        break
            if need < 0 and P[P_ALLOW_SHORT] == 0:
                need = 0.0
            if abs(need) * adjusted_pc > _margin_available(TR, S, P, c) * lev or (
                need != 0 and int(S[S_NT]) >= TR.shape[0]
            ):
                _remove_order(OR, S, oid)
                S[S_CANCELLED] += 1
                continue
            if need != 0:
                _open_trade(TR, OR, FL, S, P, adjusted, need, sl, tp, bar)
                if (not math.isnan(sl) or not math.isnan(tp)) and (
                    is_market
                    or (
                        not math.isnan(stop_price)
                        and math.isnan(limit)
                        and not math.isnan(tp)
                        and (
                            (is_long and tp <= h and (-math.inf if math.isnan(sl) else sl) < lo)
                            or (
                                not is_long
                                and tp >= lo
                                and (math.inf if math.isnan(sl) else sl) > h
                            )
                        )
                    )
                ):
                    reprocess = True
            _remove_order(OR, S, oid)
        if not reprocess:
            break


@njit(cache=True)
def step(
    i: int,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    slip: np.ndarray,
    TR: np.ndarray,
    OR: np.ndarray,
    CT: np.ndarray,
    FL: np.ndarray,
    S: np.ndarray,
    P: np.ndarray,
    EQ: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Bar ``i``: fill what is queued, mark equity at the close, stop when it hits zero."""
    if S[S_STOPPED] > 0:
        return
    if S[S_NO] > 0:
        c_prev = c[i - 1] if i > 0 else o[i]
        process_orders(i, o[i], h[i], lo[i], c_prev, c[i], slip[i], TR, OR, CT, FL, S, P)
    eq = equity(TR, S, c[i])
    EQ[i] = eq
    if eq <= 0:
        S[S_REF] = c[i]
        while S[S_NT] > 0:
            _close_trade(TR, OR, CT, FL, S, P, 0, c[i], i)
        S[S_CASH] = 0.0
        EQ[i:] = 0.0
        S[S_STOPPED] = 1.0


@njit(cache=True)
def mark(i: int, c: np.ndarray, TR: np.ndarray, S: np.ndarray, EQ: np.ndarray) -> bool:
    """Bar ``i`` with nothing queued: equity at the close; False if it is gone (then ``step``)."""
    eq = equity(TR, S, c[i])
    EQ[i] = eq
    return eq > 0  # pragma: no cover - compiled


@njit(cache=True)
def place_close(
    TR: np.ndarray, OR: np.ndarray, S: np.ndarray, P: np.ndarray, portion: float
) -> None:  # pragma: no cover - compiled
    """``ctx.close(portion)``: a close order per open trade, queued ahead of everything."""
    lot = P[P_LOT]
    for j in range(int(S[S_NT])):
        tsize = TR[j, 1]
        if portion >= 1.0:
            amount = abs(tsize)
        elif lot == 1.0:
            amount = max(1.0, float(round(abs(tsize) * portion)))
        else:
            amount = max(lot, round(abs(tsize) * portion / lot) * lot)
        _insert_order(
            OR,
            S,
            True,
            K_CLOSE,
            math.copysign(amount, -tsize),
            False,
            math.nan,
            math.nan,
            math.nan,
            math.nan,
            TR[j, 0],
        )


@njit(cache=True)
def place_entry(
    TR: np.ndarray,
    OR: np.ndarray,
    S: np.ndarray,
    P: np.ndarray,
    size: float,
    is_frac: bool,
    limit: float,
    stop: float,
    sl: float,
    tp: float,
) -> None:  # pragma: no cover - compiled
    """``ctx.buy``/``ctx.sell`` (signed ``size``); with exclusive orders, first cancel the
    queued entries and close every open trade."""
    if P[P_EXCLUSIVE] > 0:
        j = 0
        while j < int(S[S_NO]):
            if OR[j, 1] == K_ENTRY or OR[j, 1] == K_CLOSE:
                _remove_row(OR, int(S[S_NO]), j)
                S[S_NO] -= 1
            else:
                j += 1
        place_close(TR, OR, S, P, 1.0)
    _insert_order(OR, S, False, K_ENTRY, size, is_frac, limit, stop, sl, tp, -1.0)


@njit(cache=True)
def finalize(
    n: int,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    slip: np.ndarray,
    TR: np.ndarray,
    OR: np.ndarray,
    CT: np.ndarray,
    FL: np.ndarray,
    S: np.ndarray,
    P: np.ndarray,
    EQ: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """backtesting.py's ``finalize_trades``: close what is open and run the last bar again."""
    if S[S_STOPPED] > 0 or n == 0:
        return
    place_close(TR, OR, S, P, 1.0)
    step(n - 1, o, h, lo, c, slip, TR, OR, CT, FL, S, P, EQ)


@njit(cache=True, inline="always")
def _at(a: np.ndarray, i: int):  # pragma: no cover - compiled
    """``a[i]``, or ``a[0]`` for a length-1 array (a scalar broadcast over the bars)."""
    return a[i] if a.shape[0] > 1 else a[0]


@njit(cache=True)
def has_room(S: np.ndarray, CT: np.ndarray, FL: np.ndarray) -> bool:  # pragma: no cover
    need = room_needed(S)
    return S[S_NC] + need <= CT.shape[0] and S[S_NF] + 2 * need <= FL.shape[0]


@njit(cache=True)
def run_vectorized(
    start: int,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    slip: np.ndarray,
    side: np.ndarray,
    close: np.ndarray,
    size: np.ndarray,
    is_frac: np.ndarray,
    sl: np.ndarray,
    tp: np.ndarray,
    warmup: int,
    TR: np.ndarray,
    OR: np.ndarray,
    CT: np.ndarray,
    FL: np.ndarray,
    S: np.ndarray,
    P: np.ndarray,
    EQ: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """The backtest of a vectorised strategy in one compiled loop, from bar ``start``.

    Returns the bar it stopped at: ``n`` when done, or a bar whose fills might not fit in
    ``CT``/``FL`` (the caller grows them and calls again from there; growing inside the loop
    would cost every bar a reference count). ``size``, ``is_frac``, ``sl`` and ``tp`` are per
    bar or length 1 (one value for every bar)."""
    n = c.shape[0]
    for i in range(start, n):
        if S[S_NO] == 0:
            # nothing queued: only mark to market (the common bar, kept call-free)
            eq = S[S_CASH]
            for j in range(int(S[S_NT])):
                eq += TR[j, 1] * (c[i] - TR[j, 2])
            EQ[i] = eq
        if S[S_NO] > 0 or EQ[i] <= 0:
            if not has_room(S, CT, FL):
                return i
            step(i, o, h, lo, c, slip, TR, OR, CT, FL, S, P, EQ)
            if S[S_STOPPED] > 0:
                return n + 1
        if i >= warmup:
            if close[i]:
                place_close(TR, OR, S, P, 1.0)
            if side[i] != 0:
                place_entry(
                    TR,
                    OR,
                    S,
                    P,
                    side[i] * _at(size, i),
                    _at(is_frac, i) != 0,
                    math.nan,
                    math.nan,
                    _at(sl, i),
                    _at(tp, i),
                )
    return n


@njit(cache=True, nogil=True)
def run_batch(
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    slip: np.ndarray,
    side: np.ndarray,
    close: np.ndarray,
    size: np.ndarray,
    is_frac: np.ndarray,
    sl: np.ndarray,
    tp: np.ndarray,
    warmup: np.ndarray,
    P: np.ndarray,
    cash: float,
    max_trades: int,
    cap: int,
    EQ: np.ndarray,
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:  # pragma: no cover
    """Many backtests of one vectorised strategy over the same bars in one compiled loop: row
    ``k`` of ``side``/``close``/``size``/``is_frac``/``sl``/``tp`` (the last four with 1 or
    ``n`` columns) and ``warmup[k]`` are combination ``k``'s orders; its equity goes to row
    ``k`` of ``EQ``. Each row runs exactly as :func:`run_vectorized` (and :func:`finalize`)
    run it alone, from the state ``new_state`` gives. Returns each row's closed trades
    (``CT``), open trades (``TR``) and scalars (``S``), cut to what was used. ``nogil``: the
    caller may run chunks of rows on several threads."""
    n = c.shape[0]
    cts = []
    trs = []
    ss = []
    for k in range(side.shape[0]):
        S = np.zeros(S_LEN)
        S[S_CASH] = cash
        TR = np.zeros((max_trades, TR_COLS))
        OR = np.zeros((3 * max_trades + 64, OR_COLS))
        CT = np.zeros((cap, CT_COLS))
        FL = np.zeros((cap * 2, FL_COLS))
        eq = EQ[k]
        eq[:] = cash
        i = 0
        while i < n:
            i = run_vectorized(i, o, h, lo, c, slip, side[k], close[k], size[k], is_frac[k],
                               sl[k], tp[k], warmup[k], TR, OR, CT, FL, S, P, eq)  # fmt: skip
            if i < n:
                CT, FL = _room(S, CT, FL)
        if P[P_FINALIZE] and warmup[k] < n:
            CT, FL = _room(S, CT, FL)
            finalize(n, o, h, lo, c, slip, TR, OR, CT, FL, S, P, eq)
        cts.append(CT[: int(S[S_NC])].copy())
        trs.append(TR[: int(S[S_NT])].copy())
        ss.append(S)
    return cts, trs, ss


@njit(cache=True)
def _room(
    S: np.ndarray, CT: np.ndarray, FL: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """``_Run.ensure_room`` in the kernel: the closed-trade and fill tables grown so one more
    bar surely fits (by the same rule, so a batched row grows as its single run does)."""
    need = room_needed(S)
    if S[S_NC] + need > CT.shape[0]:
        CT = grow(CT, 2 * CT.shape[0] + need)
    if S[S_NF] + 2 * need > FL.shape[0]:
        FL = grow(FL, 2 * FL.shape[0] + 2 * need)
    return CT, FL
