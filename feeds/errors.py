"""Errors a feed raises to its caller: one clear sentence each, never a traceback for users."""

from __future__ import annotations


class FeedError(RuntimeError):
    """A feed cannot go on as asked (unknown symbol, unsupported timeframe, auth rejected...)."""


class RateLimited(FeedError):
    """The venue asked us to slow down (HTTP 429) or has banned this IP for a while (418)."""

    def __init__(self, message: str, retry_after_s: float, banned: bool = False) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.banned = banned


class BadInput(ValueError):
    """One inbound message that cannot be used; ``reason`` is the counter it is dropped under."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail
