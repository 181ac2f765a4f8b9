"""Market-data sources. Each implements :class:`engine.protocols.Feed`.

- ``demo``, ``replay``, ``synthetic``: offline feeds (the embedded default, a file played back,
  generated series); ``ohlcv_file`` reads CSV/Parquet bars.
- ``exchange_ws``: the websocket base (heartbeat, back-off, resubscribe, gap backfill) that the
  live feeds build on; ``health``: connection state and dropped-input counters per reason;
  ``errors``: the feed errors a user can act on.
- ``exchanges/``: Binance and Bybit wire formats, and ccxt REST history.
- ``mt5/``: MetaTrader 5 (Windows) and the websocket bridge that serves it to other machines
  (docs/bridge.md).
"""
