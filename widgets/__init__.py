"""Textual widgets: each renders the plain data it is given and does no I/O."""
