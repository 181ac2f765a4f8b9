"""Backtesting: the broker simulator (numba), the backtester, walk-forward, performance and
accuracy statistics.
"""
