"""Alerts: the outbox (relay), the alert builders, the daily summary, the Telegram command bot,
and the service that runs them together."""
