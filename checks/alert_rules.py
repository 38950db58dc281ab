"""The console's own alert rules: which alerts fire, from values already read.

The engine reads (the snapshot's gates, the 1-hour error rate, the minute's 5xx
count, today's cost, the events table) and writes what these functions decide; the
decisions themselves are here, testable without a database."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable

from .models import Band, Frozen, GateReading
from .sql_result import EventRow


class RuleAlert(Frozen):
    """An alert a rule raises: kept open while the rule fires, resolved when it stops."""

    fingerprint: str
    severity: str
    name: str
    summary: str


def gate_alerts(readings: Iterable[GateReading]) -> list[RuleAlert]:
    """A red gate is a critical alert, a yellow one a warning."""
    return [
        RuleAlert(fingerprint=f"rule:gate:{r.name}", severity="critical" if r.band is Band.RED else "warning",
                  name=f"{r.name} {r.band.value}",
                  summary=f"{r.shown} (green {r.bands.green if r.bands else '?'})")
        for r in readings if r.band in (Band.RED, Band.YELLOW)
    ]


def error_rate_alert(value: float | None, detail: str, limit: float) -> RuleAlert | None:
    """Error rate over 1 h above the limit (%)."""
    if value is None or value <= limit:
        return None
    return RuleAlert(fingerprint="rule:error_rate_1h", severity="critical", name="error rate over 1 h",
                     summary=f"{value:.2f} % > {limit} % ({detail})")


def burst_alert(count: int, limit: int) -> RuleAlert | None:
    """More 5xx answers in the last minute than the limit."""
    if count <= limit:
        return None
    return RuleAlert(fingerprint="rule:5xx_per_minute", severity="warning", name="5xx burst",
                     summary=f"{count} 5xx answers in the last minute (> {limit})")


def cost_alert(cost: float | None, budget: float) -> RuleAlert | None:
    """Today's cost over the budget."""
    if cost is None or cost <= budget:
        return None
    return RuleAlert(fingerprint="rule:cost", severity="critical", name="cost over budget",
                     summary=f"${cost:.2f} today > ${budget:.2f}")


def event_alert(ev: EventRow) -> RuleAlert:
    """A row of the events table, known by its time, name and summary."""
    fp = "ev:" + hashlib.sha1(f"{ev.at}|{ev.name}|{ev.summary}".encode()).hexdigest()[:16]
    return RuleAlert(fingerprint=fp, severity=ev.severity, name=ev.name, summary=ev.summary)
