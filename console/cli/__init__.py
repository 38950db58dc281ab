"""The command line, one module per family of commands (running, reading, acting,
audit, report), each adding its entries to the dispatch table in `main`."""
from .main import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]
