"""The SQLite store: one file, versioned schema, one module per table group."""
