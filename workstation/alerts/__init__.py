"""Alerts: the outbox and relay, the Telegram command bot, and the service that runs them."""
