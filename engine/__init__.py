"""Pure computation: the domain (model, protocols, timeframes, the command language), and below
it signals, trading arithmetic, the strategy API and the backtester.

Nothing here imports Textual, the store or the network; heavy modules (qiskit, numba) are
imported by the submodules that need them, never by this package.
"""
