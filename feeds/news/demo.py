"""The demo market's news: seeded, deterministic headlines about the demo instruments.

A few items per hour of the clock it is given, each published at a seeded moment of its hour
(never after the clock's now), over the last ``backlog_h`` hours: a poll returns what has been
"published" so far, so polling again returns the same items plus the newer ones (the store
keeps each once). Which headline an hour gets, and so its sentiment, is drawn at random,
independent of the demo prices: the demo's news carries no edge, and the learnt model should
give it no weight.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

from engine.model import NewsItem

HOUR_NS = 3_600_000_000_000

# symbol -> (headline, summary): good, bad and flat news for each, drawn at random
HEADLINES: dict[str, tuple[tuple[str, str], ...]] = {
    "WTI": (
        ("OPEC+ agrees deeper output cuts", "Producers extend curbs into next quarter."),
        ("Crude slips as US inventories build more than expected", "EIA data show a large build."),
        ("WTI tumbles as demand outlook darkens", "Traders fear a slowdown in fuel demand."),
        ("Refinery outage lifts US crude prices", "A Gulf Coast plant halts two units."),
        ("Oil steady ahead of OPEC+ meeting", "Markets await the producer group's decision."),
    ),
    "BRENT": (
        ("Brent climbs on Middle East supply worries", "Shipping risks in the Red Sea persist."),
        ("Brent falls as China imports weaken", "Refiners cut crude purchases."),
        ("North Sea crude rallies on strong Asian demand", "Forties differentials firm."),
        ("Brent little changed as traders weigh OPEC+ cuts", "Volumes are thin."),
    ),
    "NATGAS": (
        (
            "Henry Hub gas slides as mild weather curbs heating demand",
            "Forecasts point to above-normal temperatures.",
        ),
        ("Natural gas jumps on cold snap forecast", "Heating demand is expected to surge."),
        ("US LNG exports hit a record as Europe restocks", "Feedgas flows reach new highs."),
        ("Gas storage build larger than expected, prices drop", "Inventories swell again."),
        ("Natural gas flat after storage report", "The build matched estimates."),
    ),
    "BTC/USDT": (
        ("Bitcoin rallies as ETF inflows accelerate", "Spot funds add billions in a week."),
        ("Bitcoin slides after a major exchange outage", "Withdrawals were paused for hours."),
        ("Bitcoin holds steady as traders await Fed minutes", "Volatility stays low."),
    ),
    "ETH/USDT": (
        ("Ether gains after a smooth network upgrade", "Fees fall across the network."),
        ("Ether drops as staking outflows grow", "Validators queue to exit."),
    ),
    "SOL/USDT": (
        ("Solana surges on record decentralized exchange volume", "Activity hits new highs."),
        ("Solana tumbles after network congestion", "Transactions failed for hours."),
    ),
    "EURUSD": (
        ("Euro firms after strong German PMI data", "Manufacturing returns to growth."),
        ("Euro slips as ECB signals more rate cuts", "Policymakers see inflation easing."),
    ),
    "GBPUSD": (
        ("Sterling rises as UK wages beat forecasts", "Pay growth stays strong."),
        ("Pound weakens on disappointing retail sales", "Shoppers cut back."),
    ),
    "USDJPY": (
        ("Yen weakens as the BoJ holds rates", "The central bank keeps policy loose."),
        ("Yen jumps on intervention warnings", "Officials say they are watching closely."),
    ),
    "XAUUSD": (
        ("Gold hits a record high on safe-haven demand", "Central banks keep buying."),
        ("Gold falls as the dollar strengthens", "Real yields rise."),
    ),
    "US500": (
        ("S&P 500 closes at a record on strong tech earnings", "Chipmakers lead the gains."),
        ("Stocks slump as bond yields spike", "The S&P 500 posts its worst day in a month."),
    ),
}


class DemoNewsSource:
    name = "demo"
    key = "demo"

    def __init__(
        self,
        seed: int = 7,
        per_hour: int = 3,
        backlog_h: int = 24,
        symbols: Sequence[str] | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if per_hour < 1 or backlog_h < 0:
            raise ValueError("demo news needs per_hour >= 1 and backlog_h >= 0")
        self.seed = int(seed)
        self.per_hour = int(per_hour)
        self.backlog_h = int(backlog_h)
        wanted = list(HEADLINES) if symbols is None else [s for s in symbols if s in HEADLINES]
        self.symbols = tuple(dict.fromkeys(wanted))
        self._clock = clock

    def items_of_hour(self, hour: int) -> list[NewsItem]:
        """The items "published" in hour number ``hour`` (UTC hours since the epoch)."""
        if not self.symbols:
            return []
        rng = random.Random(f"qws-demo-news:{self.seed}:{hour}")
        out: list[NewsItem] = []
        for i in range(self.per_hour):
            symbol = rng.choice(self.symbols)
            headline, summary = rng.choice(HEADLINES[symbol])
            ts = hour * HOUR_NS + rng.randrange(HOUR_NS)
            out.append(
                NewsItem(
                    key=self.key,
                    id=f"demo-{hour}-{i}",
                    ts_ns=ts,
                    headline=headline,
                    summary=summary,
                    source="Demo Wire",
                    symbols=(symbol,),
                )
            )
        return out

    async def fetch(self) -> list[NewsItem]:
        now = self._clock()
        hour = now // HOUR_NS
        items = [
            item
            for h in range(hour - self.backlog_h, hour + 1)
            for item in self.items_of_hour(h)
            if item.ts_ns <= now
        ]
        return sorted(items, key=lambda i: (i.ts_ns, i.id))

    async def close(self) -> None:
        return None
