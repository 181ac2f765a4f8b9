"""Brokers: paper (the default), ccxt exchanges and MetaTrader 5."""
