"""The Textual app: the App, its screens, the command palette, messages and styles."""
