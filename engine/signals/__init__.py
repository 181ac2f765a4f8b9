"""Signal computation: encoding (numba), QPE (qiskit), cycles, indicators, levels, the ensemble and
the scanner.
"""
