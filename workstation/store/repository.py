"""What every table group of the store shares: the store it belongs to, and the clock."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workstation.store.database import Store


def now_ns() -> int:
    return time.time_ns()


class Repository:
    """One table group of a :class:`~workstation.store.database.Store`.

    It owns no connection: reads go through :meth:`Store.reading`, writes through
    :meth:`Store.transaction` or :meth:`Store.durable`, so every repository shares the store's
    lock and a write joins whatever outer transaction is open.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
