"""PromQL gates: one instant query, one number.

`promql_value` runs `GET {base_url}/api/v1/query?query=...` and returns the query's
single number (see `checks.promql` for what counts as one: a scalar or a one-sample
vector; no series or NaN is None, "no data"). Every fault is a `SourceError` with a
short reason: "timeout after 5s", "connection refused", "HTTP 500",
"prometheus: bad_data: <Prometheus's own error text>" (Prometheus answers a bad
query with 400 and a JSON error), "query returned 3 series; a gate needs one
number", "invalid response: ...". A password in `base_url` never reaches a reason.
"""
from __future__ import annotations

from collections.abc import Mapping

import httpx

from checks.promql import ResponseError, error_reason, parse_query_response

from ..secrets import mask_text
from . import SourceError
from ._http import decode_json, http_get, join_url

__all__ = ["SourceError", "parse_query_response", "promql_value"]

QUERY_PATH = "/api/v1/query"


async def promql_value(
    client: httpx.AsyncClient, base_url: str, query: str, timeout: float, *, headers: Mapping[str, str] | None = None
) -> float | None:
    """The single number `query` yields now, or None when it yields no data;
    `headers` ([prometheus] headers, e.g. a bearer token) go with the request."""
    if not base_url:
        raise SourceError("no Prometheus URL configured ([prometheus] url)")
    status, body = await http_get(client, join_url(base_url, QUERY_PATH), {"query": query}, timeout, headers=headers)
    if not 200 <= status < 300:
        reason = None
        try:
            reason = error_reason(decode_json(body))
        except SourceError:
            pass
        if reason is None:
            raise SourceError(f"HTTP {status}")
        # 400 bad_data / 422 execution: the query's fault, Prometheus's words say it all.
        # 5xx (timeout, internal, unavailable): keep the status in front.
        raise SourceError(mask_text(reason if status < 500 else f"HTTP {status}: {reason}"))
    payload = decode_json(body)
    try:
        return parse_query_response(payload)
    except ResponseError as e:
        raise SourceError(mask_text(str(e))) from None
