"""The paper broker (entry point ``qws.brokers:paper``): a simulated venue with its own ledger.

- ``broker``: :class:`PaperBroker`, the matching engine and the account rules;
- ``ledger``: :class:`PaperLedger`, the account's SQLite state file and all its SQL (shared
  safely by several processes), and its errors :class:`LedgerBusy`, :class:`LedgerDamaged`;
- ``codec``: the JSON bodies of orders, fills and positions in that file.
"""

from __future__ import annotations

from plugins.brokers.paper.broker import DEFAULT_FEES, PaperBroker
from plugins.brokers.paper.codec import fill_from_json, fill_to_json, order_from_json, order_to_json
from plugins.brokers.paper.ledger import LedgerBusy, LedgerDamaged, PaperLedger

__all__ = [
    "DEFAULT_FEES",
    "LedgerBusy",
    "LedgerDamaged",
    "PaperBroker",
    "PaperLedger",
    "fill_from_json",
    "fill_to_json",
    "order_from_json",
    "order_to_json",
]
