"""Alertmanager's firing alerts, for the console's alert feed.

`fetch_alerts` runs `GET {base_url}/api/v2/alerts?active=true&silenced=false&inhibited=false`
and maps each alert as `checks.alertmanager` describes (startsAt, severity label,
alertname, summary/description annotation, "am:" + fingerprint), newest first.
Every fault is a `SourceError` with a short reason ("timeout after 5s",
"connection refused", "HTTP 500", "invalid response: ..."), with no password in it.
"""
from __future__ import annotations

from collections.abc import Mapping

import httpx

from checks.alertmanager import parse_alerts
from checks.models import Alert
from checks.promql import ResponseError

from ..secrets import mask_text
from . import SourceError
from ._http import decode_json, http_get, join_url

__all__ = ["SourceError", "fetch_alerts", "parse_alerts"]

ALERTS_PATH = "/api/v2/alerts"
ALERTS_PARAMS = {"active": "true", "silenced": "false", "inhibited": "false"}


async def fetch_alerts(
    client: httpx.AsyncClient, base_url: str, timeout: float, *, headers: Mapping[str, str] | None = None
) -> list[Alert]:
    """The alerts firing now and neither silenced nor inhibited, newest first;
    `headers` ([alertmanager] headers) go with the request."""
    if not base_url:
        raise SourceError("no Alertmanager URL configured ([alertmanager] url)")
    status, body = await http_get(
        client, join_url(base_url, ALERTS_PATH), dict(ALERTS_PARAMS), timeout, headers=headers
    )
    if not 200 <= status < 300:
        raise SourceError(f"HTTP {status}")
    payload = decode_json(body)
    try:
        return parse_alerts(payload)
    except ResponseError as e:
        raise SourceError(mask_text(str(e))) from None
