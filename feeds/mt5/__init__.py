"""MetaTrader 5: the terminal feed (Windows), and the websocket bridge that serves it to other
machines.
"""
