"""The user's preferences: the ``settings`` key/value table (JSON values, every change
audited) and the ``watchlists``."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from workstation.store.repository import Repository

if TYPE_CHECKING:
    from workstation.store.database import Store


class SettingRepository(Repository):
    """Reads are cached per key until :meth:`Store.stamp` moves: the trading loop asks for the
    kill switch and the pause flags at every bar, and they change about never."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._cache: dict[str, tuple[tuple[int, int, int], str | None]] = {}

    def get(self, key: str, default: Any = None) -> Any:
        stamp = self._store.stamp()
        cached = self._cache.get(key) if stamp is not None else None
        if cached is not None and cached[0] == stamp:
            raw = cached[1]
        else:
            with self._store.reading() as conn:
                row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
            raw = None if row is None else str(row[0])
            if stamp is not None:
                self._cache[key] = (stamp, raw)
        return default if raw is None else json.loads(raw)

    def set(self, key: str, value: Any, actor: str = "user") -> None:
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                (key, json.dumps(value)),
            )
            self._store.audit.add(actor, "setting", key, {"value": value})

    def claim(self, key: str, holder: str, is_free: Callable[[str], bool]) -> bool:
        """Make ``holder`` the value of ``key`` unless another holder has it and
        ``is_free(other)`` says it still holds it; True when ``holder`` has it now. Atomic
        across processes: the check is made again under the write lock."""
        current = self.get(key)
        if current == holder:
            return True
        if current is not None and not is_free(str(current)):
            return False
        with self._store.transaction() as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
            now = None if row is None else json.loads(row[0])
            if now is not None and now != holder and not is_free(str(now)):
                return False
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                (key, json.dumps(holder)),
            )
            self._store.audit.add("qws", "claimed", key, {"holder": holder, "from": now})
        return True


class WatchlistRepository(Repository):
    """Named, ordered symbol lists. A setting marks a list as saved, so a list saved empty
    (None is "never saved": the app then shows its defaults) survives a restart."""

    def get(self, name: str = "default") -> list[str] | None:
        """The saved symbols, or None if this watchlist was never saved."""
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT symbol FROM watchlists WHERE name = ? ORDER BY position", (name,)
            ).fetchall()
            saved = self._store.settings.get(f"watchlist.{name}.saved")
        if not rows and not saved:
            return None
        return [r[0] for r in rows]

    def set(self, symbols: Sequence[str], name: str = "default") -> None:
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM watchlists WHERE name = ?", (name,))
            conn.executemany(
                "INSERT INTO watchlists (name, symbol, position) VALUES (?, ?, ?)",
                [(name, s, i) for i, s in enumerate(dict.fromkeys(symbols))],
            )
            self._store.settings.set(f"watchlist.{name}.saved", True)
