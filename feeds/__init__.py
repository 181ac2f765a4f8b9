"""Market-data sources: demo (embedded default), replay, exchanges, MetaTrader 5.

- ``demo``, ``replay``: offline feeds.
- ``exchange_ws``: the websocket base (heartbeat, back-off, resubscribe, gap backfill);
  ``binance``, ``bybit``: venue wire formats on top of it.
- ``ccxt_feed``: exchange history through ccxt with a candle cache (``qws fetch``).
- ``mt5``: MetaTrader 5 (Windows); ``bridge_server`` / ``bridge`` / ``bridge_protocol``: the
  same data over a websocket to other machines (docs/bridge.md).
- ``health``: dropped-input counters per reason and connection state (``snapshot()``).
"""
