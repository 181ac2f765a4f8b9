"""Errors of the store (a module of their own so every repository can raise them)."""

from __future__ import annotations


class StoreError(RuntimeError):
    pass


class AmbiguousVenueError(StoreError):
    """A symbol and timeframe are stored for several venues and the caller named none."""
