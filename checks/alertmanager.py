"""How Alertmanager's alert list becomes the console's alert feed.

Pure: the decoded body of `GET /api/v2/alerts` in, `Alert` models out. The HTTP side
lives in `console.sources.alertmanager`.

Mapping of one Alertmanager alert:

- `at` = `startsAt`, a timezone-aware datetime (a time without an offset is UTC);
- `source` = "alertmanager";
- `severity` = the `severity` label: P-levels upper-cased ("p2" → "P2"), anything
  else lower-cased ("Critical" → "critical"), an unusual value is kept rather than
  guessed at; no label (or an empty one) → "warning";
- `name` = the `alertname` label ("(unnamed)" if there is none);
- `summary` = the `summary` annotation, else `description`, else "";
- `fingerprint` = "am:" + Alertmanager's fingerprint (or, should it be missing, a
  stable hash of the labels, which is what Alertmanager fingerprints too);
- `labels` = the labels, kept for the alert's detail: at most `MAX_LABELS` of them
  (the first by name), each name cut at `MAX_LABEL_NAME` characters and each value
  at `MAX_LABEL_VALUE`, and `labels_left_out` says how many more there were. Labels
  are outside text: an alert with 500 labels or a 10 kB value is stored and shown
  bounded, and says so, rather than filling the database and the screen.

Alerts that Alertmanager reports as `suppressed` (silenced or inhibited) are left
out even if the server ignored the query's filters. Everything else in the list is
kept; the result is newest first.

One malformed alert rejects the whole answer (`ResponseError`, "invalid response:
..."): the engine resolves every Alertmanager alert missing from a successful fetch,
so silently dropping one would resolve an alert that is still firing.
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Any

from .models import Alert
from .promql import ResponseError

__all__ = ["ResponseError", "parse_alerts", "parse_alert", "normalize_severity", "parse_time", "bounded_labels"]

_P_LEVEL = re.compile(r"^p[0-9]$", re.IGNORECASE)
_FRACTION = re.compile(r"(\.\d{6})\d+")
DEFAULT_SEVERITY = "warning"
# Real alerts carry a dozen labels of a few dozen characters; these bounds leave room
# for the unusual (a long `description` copied into a label) and keep one alert's
# labels under ~60 kB however the alert was written.
MAX_LABELS = 50
MAX_LABEL_NAME = 100
MAX_LABEL_VALUE = 1000


def normalize_severity(raw: Any) -> str:
    """"P2"/"p2" → "P2"; "Critical" → "critical"; missing or blank → "warning"."""
    if raw is None:
        return DEFAULT_SEVERITY
    text = str(raw).strip()
    if not text:
        return DEFAULT_SEVERITY
    if _P_LEVEL.match(text):
        return text.upper()
    return text.lower()


def parse_time(raw: Any) -> datetime:
    """An RFC 3339 time as Alertmanager writes it (nanoseconds, "Z") → aware datetime."""
    if not isinstance(raw, str) or not raw.strip():
        raise ResponseError(f"invalid response: startsAt {raw!r} is not a time")
    text = _FRACTION.sub(r"\1", raw.strip())  # datetime keeps microseconds only
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ResponseError(f"invalid response: startsAt {raw[:40]!r} is not a time") from None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _labels_fingerprint(labels: dict[str, str]) -> str:
    canon = "\xff".join(f"{k}\xfe{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def _string_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ResponseError(f"invalid response: {what} is not an object")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def bounded_labels(labels: dict[str, str]) -> tuple[dict[str, str], int]:
    """The labels as kept: the first `MAX_LABELS` by name, names and values cut (a cut
    ends in "…"), and how many were left out."""
    names = sorted(labels)
    kept = {}
    for name in names[:MAX_LABELS]:
        # Two names alike up to the cut become one: the first by name is kept, the other counted out.
        short = _cut(name, MAX_LABEL_NAME)
        if short not in kept:
            kept[short] = _cut(labels[name], MAX_LABEL_VALUE)
    return kept, len(labels) - len(kept)


def parse_alert(item: Any) -> Alert:
    """One element of the `/api/v2/alerts` list → an `Alert`."""
    if not isinstance(item, dict):
        raise ResponseError("invalid response: an alert is not an object")
    labels = _string_map(item.get("labels"), "labels")
    annotations = _string_map(item.get("annotations"), "annotations")
    fingerprint = item.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        fingerprint = _labels_fingerprint(labels)
    kept, left_out = bounded_labels(labels)
    return Alert(
        at=parse_time(item.get("startsAt")),
        source="alertmanager",
        severity=normalize_severity(labels.get("severity")),
        name=labels.get("alertname") or "(unnamed)",
        summary=annotations.get("summary") or annotations.get("description") or "",
        fingerprint="am:" + fingerprint,
        labels=kept,
        labels_left_out=left_out,
    )


def _suppressed(item: dict) -> bool:
    status = item.get("status")
    return isinstance(status, dict) and status.get("state") == "suppressed"


def parse_alerts(payload: Any) -> list[Alert]:
    """The decoded body of `GET /api/v2/alerts` → alerts, newest first."""
    if not isinstance(payload, list):
        raise ResponseError(f"invalid response: expected a list of alerts, got {type(payload).__name__}")
    alerts = [parse_alert(item) for item in payload if not (isinstance(item, dict) and _suppressed(item))]
    alerts.sort(key=lambda a: (a.at, a.fingerprint), reverse=True)
    return alerts
