"""Logging: to a file while the full-screen console runs (never the terminal), and
every message masked and made literal, wherever it goes."""
from __future__ import annotations

import logging
from pathlib import Path

from widgets.literal import visible

from .secrets import mask_text


class MaskSecrets(logging.Filter):
    """Secrets masked, and outside text in a message (an alert, an error, a name)
    unable to forge a log line (a newline) or drive the terminal that tails the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = visible(mask_text(record.getMessage()), limit=4000)
        record.args = ()
        return True


def safe_handler(handler: logging.Handler) -> logging.Handler:
    handler.addFilter(MaskSecrets())
    return handler


def log_to_file(path: Path) -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(safe_handler(handler))
    root.setLevel(logging.WARNING)
