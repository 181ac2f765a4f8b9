"""The process around the trading loop: settings, secrets, the plugin registry, the event hub, the
engine thread, and the factory that opens feeds.
"""
