"""Notifiers: Telegram."""
