"""Self-contained HTML reports (Bokeh): a backtest's, a walk-forward's and the account's."""
