"""The audit trail's hash chain: each event's hash covers its content and the hash
of the event before it, so an edited, deleted or reordered row is found."""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

GENESIS = "0" * 64
FIELDS = ("at", "flag", "operator", "action", "from_pct", "to_pct", "reason", "verdict", "gates", "automatic", "override")


def _plain(value):
    # A timestamp reads back in the session's time zone: hash it in UTC, always.
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="microseconds")
    return str(value)


def finite_gates(gates: Mapping[str, float | None]) -> dict[str, float | None]:
    """Gate values as the audit stores them: floats, with NaN and ±Inf as null
    (JSON has no such numbers, and a rollback must never fail on its metadata)."""
    out: dict[str, float | None] = {}
    for name, v in gates.items():
        out[name] = float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None
    return out


def canonical(event: Mapping) -> str:
    fields = {k: event[k] for k in FIELDS}
    # jsonb may read a float back as an int (1e16): hash the numbers as floats.
    fields["gates"] = finite_gates(fields["gates"] or {})
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=_plain)


def event_hash(prev_hash: str, event: Mapping) -> str:
    return hashlib.sha256((prev_hash + "\n" + canonical(event)).encode()).hexdigest()


def first_broken(rows: Iterable[Mapping]) -> tuple[int, str] | None:
    """(id, why) of the first row whose content or link does not match, else None.
    Rows are in id order and carry `id`, `prev_hash`, `hash` and the FIELDS."""
    prev = GENESIS
    for row in rows:
        if row["prev_hash"] != prev:
            return row["id"], "its prev_hash does not match the row before it (a row was removed or reordered)"
        if event_hash(prev, row) != row["hash"]:
            return row["id"], "its content does not match its hash (the row was edited)"
        prev = row["hash"]
    return None
