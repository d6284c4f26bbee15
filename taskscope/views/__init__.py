"""How rows are read back: the pandas :mod:`.dataset` and the inline :mod:`.display`."""
