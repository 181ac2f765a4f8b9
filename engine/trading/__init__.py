"""Pure trading arithmetic: position sizing and risk limits, the portfolio (fills to positions and
P&L).
"""
