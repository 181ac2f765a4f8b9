"""The process around the trading loop: settings, secrets, the plugin registry, the event hub, the
engine thread, and the factories that open feeds and brokers.
"""
