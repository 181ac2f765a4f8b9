"""First-party strategies, each registered under the ``qws.strategies`` entry-point group."""
