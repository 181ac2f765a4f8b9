"""Crypto exchanges: the shared websocket feed base, Binance, Bybit, and ccxt REST."""
