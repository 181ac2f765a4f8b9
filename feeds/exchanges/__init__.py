"""Crypto exchanges: Binance and Bybit over their websockets (on :mod:`feeds.exchange_ws`), and
exchange history over REST through ccxt (``qws fetch``)."""
