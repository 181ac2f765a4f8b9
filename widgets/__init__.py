"""Textual widgets. Data comes down by method calls from the screen that places them; their own
messages (a row highlighted, a command entered) go up. They import the engine's domain types,
never ``workstation``, a feed or a broker."""
