"""Pure computation: domain types, timeframes, encoding, QPE, indicators, ensemble, risk.

Nothing here imports Textual, the store or the network; heavy modules (qiskit, numba) are
imported by the submodules that need them, never by this package.
"""
