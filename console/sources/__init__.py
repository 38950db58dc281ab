"""The console's HTTP data sources: Prometheus (PromQL gates) and Alertmanager (alerts).

Each source is one async function that takes an `httpx.AsyncClient`, the base URL and
a timeout, and either returns values or raises `SourceError` whose text is a short
reason fit for the screen ("timeout after 5s", "connection refused", "HTTP 500",
"prometheus: bad_data: ...", "invalid response: ..."), never with a password in it.
The parsing of the answers is pure and lives in `checks.promql` and
`checks.alertmanager`.
"""
from __future__ import annotations


class SourceError(Exception):
    """A data source did not give a usable answer; `str()` is the short human reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


__all__ = ["SourceError"]
