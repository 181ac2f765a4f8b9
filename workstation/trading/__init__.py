"""Orders and risk at run time: the order manager (OMS), the broker factory, the desk, execution,
the kill switch and risk reports.
"""
