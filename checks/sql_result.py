"""Judging what configured SQL returned, as plain values (no database here).

A gate's query must give exactly one row of one column holding a finite number, or
NULL (no data: the gate is UNKNOWN, "the query returned NULL"). Everything else is
refused with a ValueError whose message is the reason shown on screen: two rows are
not silently the first, `true` and `'0'` are not numbers, and NaN or -Infinity is
never judged against a band (`-Infinity < 0.1` would be green).

An events query gives (at, severity, name[, summary]) rows; a row of the wrong shape
refuses the whole answer with the row's number and what is wrong with it.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

SUMMARY_MAX = 2000  # characters kept of an event's summary
NAME_MAX = 200


def _shown(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def finite_number(v: object, what: str = "the query returned") -> float | None:
    """A number a band can judge, None for NULL; anything else raises ValueError."""
    if v is None:
        return None
    reason = _not_finite_number(v, what)
    if reason:
        raise ValueError(reason)
    return float(v)  # type: ignore[arg-type]


def _not_finite_number(v: object, what: str) -> str | None:
    if isinstance(v, bool):  # bool is an int in Python: refuse it before the int case
        return f"{what} a boolean ({str(v).lower()}), not a number"
    if isinstance(v, str):
        return f"{what} text {_shown(v)}, not a number (cast it in the query if it holds one)"
    if not isinstance(v, (int, float, Decimal)):
        kind = "bytes" if isinstance(v, (bytes, bytearray, memoryview)) else f"a {type(v).__name__}"
        return f"{what} {kind} ({_shown(v)}), not a number"
    if isinstance(v, Decimal) and v.is_nan() or isinstance(v, float) and math.isnan(v):
        return f"{what} NaN, not a finite number"
    if isinstance(v, Decimal) and v.is_infinite() or isinstance(v, float) and math.isinf(v):
        return f"{what} {'-' if v < 0 else ''}Infinity, not a finite number"
    try:
        if math.isinf(float(v)):
            raise OverflowError
    except OverflowError:
        return f"{what} a number too large to judge ({_shown(v)})"
    return None


def gate_value(rows: Sequence[Sequence[object]], *, more: bool = False) -> float | None:
    """The single number of a gate's answer (None for NULL). `more` says the rows were
    cut off: the query gave more than len(rows)."""
    if not rows:
        raise ValueError("the query returned no rows; a gate needs exactly one row with one number")
    if len(rows) > 1 or more:
        count = f"more than {len(rows)}" if more else str(len(rows))
        raise ValueError(f"the query returned {count} rows; a gate needs exactly one")
    row = rows[0]
    if len(row) != 1:
        raise ValueError(f"the query returned {len(row)} columns; a gate needs one number")
    return finite_number(row[0])


@dataclass(frozen=True)
class EventRow:
    """One row of `[alerts] events_query`, checked."""

    at: datetime
    severity: str
    name: str
    summary: str


def event_rows(rows: Sequence[Sequence[object]]) -> list[EventRow]:
    """Check every row of an events query: (at timestamptz, severity text, name text[,
    summary text or NULL]). A bad row refuses the whole answer (the query is wrong,
    not the row), naming the row (1-based) and the column."""
    return [_event_row(i, row) for i, row in enumerate(rows, 1)]


def _event_row(n: int, row: Sequence[object]) -> EventRow:
    where = f"events query row {n}"
    if len(row) not in (3, 4):
        raise ValueError(f"{where} has {len(row)} columns; give at, severity, name and optionally summary")
    at, severity, name = row[0], row[1], row[2]
    summary = row[3] if len(row) == 4 else None
    if not isinstance(at, datetime):
        raise ValueError(f"{where}: at is {_shown(at)}, not a timestamp with time zone")
    if at.tzinfo is None:
        raise ValueError(f"{where}: at is a timestamp without time zone; give a timestamptz (at time zone 'UTC')")
    for key, value in (("severity", severity), ("name", name)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}: {key} is {_shown(value)}, not a non-empty text")
    if summary is not None and not isinstance(summary, str):
        raise ValueError(f"{where}: summary is {_shown(summary)}, not a text or NULL")
    return EventRow(at=at, severity=severity.strip(), name=name[:NAME_MAX], summary=(summary or "")[:SUMMARY_MAX])
