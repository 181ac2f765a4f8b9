"""The trading runtime: the one owner of the trading loop (market, signals, strategies,
sizing, the pre-trade check, orders, equity, alerts). The screen, the command line and
Telegram are its clients: they send it intents and listen to its events."""
