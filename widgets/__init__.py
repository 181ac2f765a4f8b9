"""Textual widgets. They receive data through messages; they never talk to feeds or brokers."""
