"""The SQLite store: one file, versioned schema, one module per table group.

:class:`Store` owns the connection; its attributes are the table groups
(``store.candles``, ``store.orders``, ``store.alerts``, ...).
"""

from workstation.store.database import Store, check_file
from workstation.store.errors import AmbiguousVenueError, StoreDamagedError, StoreError
from workstation.store.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "AmbiguousVenueError",
    "Store",
    "StoreDamagedError",
    "StoreError",
    "check_file",
]
