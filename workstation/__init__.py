"""The application: CLI, config, store, event hub, plugin registry, Textual app and screens."""
