"""How the answer of a Prometheus instant query becomes a gate's one number.

Pure: a decoded JSON payload in, a float (or None for "no data") out. The HTTP side
lives in `console.sources.prometheus`; this module is unit-tested without a server.

A gate needs exactly one number, so the query must yield either

- a scalar (`scalar(...)`, `1 + 1`), or
- an instant vector with exactly one sample (`sum(rate(http_errors_total[5m]))`).

An empty vector means "no data" and gives None (the gate is then UNKNOWN, which
holds). NaN also gives None: Prometheus answers NaN for 0/0, e.g. an error ratio
while there is no traffic, and that is not a number anyone can judge. +Inf and -Inf
are kept as floats: they compare like numbers and land in a band.

Anything else is a `ResponseError` whose text is the short reason shown to the
on-call engineer: more than one series ("query returned 3 series; a gate needs one
number"), a range vector or a string result, a Prometheus error payload
("prometheus: bad_data: 1:5: parse error: ..."), or a payload that is not
Prometheus's API shape ("invalid response: ...").
"""
from __future__ import annotations

import math
from typing import Any

__all__ = ["ResponseError", "parse_query_response", "parse_sample_value", "error_reason"]

_MAX_ERROR_CHARS = 300


class ResponseError(ValueError):
    """A data source's answer that cannot become a reading; `str()` is the short reason."""


def _clip(text: str, limit: int = _MAX_ERROR_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_reason(payload: Any) -> str | None:
    """The reason in a Prometheus error payload (`{"status": "error", ...}`), as
    "prometheus: <errorType>: <error>", or None when the payload is not one."""
    if not isinstance(payload, dict) or payload.get("status") != "error":
        return None
    kind = payload.get("errorType") or "error"
    text = payload.get("error") or "no error text"
    return _clip(f"prometheus: {kind}: {text}")


def parse_sample_value(value: Any) -> float | None:
    """One `[timestamp, "value"]` pair → float; NaN → None; "+Inf" → inf."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ResponseError(f"invalid response: a sample should be [time, value], got {_clip(repr(value), 80)}")
    raw = value[1]
    if not isinstance(raw, str):
        # Prometheus always sends sample values as strings; accept plain numbers too.
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise ResponseError(f"invalid response: sample value {_clip(repr(raw), 80)} is not a number")
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise ResponseError(f"invalid response: sample value {_clip(repr(raw), 80)} is not a number") from None
    return None if math.isnan(number) else number


def parse_query_response(payload: Any) -> float | None:
    """The one number in the decoded body of `GET /api/v1/query`.

    Returns None when the query matched no series (or the value is NaN); raises
    `ResponseError` otherwise when the answer is not exactly one number.
    """
    reason = error_reason(payload)
    if reason:
        raise ResponseError(reason)
    if not isinstance(payload, dict):
        raise ResponseError(f"invalid response: expected a JSON object, got {type(payload).__name__}")
    if payload.get("status") != "success":
        raise ResponseError(f"invalid response: status is {_clip(repr(payload.get('status')), 40)}")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise ResponseError("invalid response: no data object")
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        return parse_sample_value(result)
    if kind == "vector":
        if not isinstance(result, list):
            raise ResponseError("invalid response: the vector result is not a list")
        if not result:
            return None
        if len(result) > 1:
            raise ResponseError(f"query returned {len(result)} series; a gate needs one number")
        sample = result[0]
        if not isinstance(sample, dict):
            raise ResponseError("invalid response: a vector sample is not an object")
        if "value" not in sample and "histogram" in sample:
            raise ResponseError("query returned a native histogram; a gate needs one number")
        return parse_sample_value(sample.get("value"))
    if kind == "matrix":
        raise ResponseError(
            "query returned a range vector; a gate needs one number (wrap it in e.g. avg_over_time(...))"
        )
    if kind == "string":
        raise ResponseError("query returned a string; a gate needs one number")
    raise ResponseError(f"invalid response: unknown resultType {_clip(repr(kind), 40)}")
