"""The workstation in a browser: ``qws serve`` (textual-serve behind a token)."""
