"""Market-data sources: demo (embedded default), replay, exchanges, MetaTrader 5."""
