"""The application: the runtime around the trading loop, the store, trading, alerts, strategies
at run time, the Textual app and the command line (see ARCHITECTURE.md)."""
