"""The console's own alert rules: which alerts fire, from values already read.

The engine reads (the snapshot's gates, the 1-hour error rate, the minute's 5xx
count, today's cost, the events table) and writes what these functions decide; the
decisions themselves are here, testable without a database."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime

from .models import Band, Frozen, GateReading
from .sql_result import EventRow


class RuleAlert(Frozen):
    """An alert a rule raises: kept open while the rule fires, resolved when it stops."""

    fingerprint: str
    severity: str
    name: str
    summary: str


def gate_fingerprint(name: str) -> str:
    """The alert a gate raises when it turns red or yellow."""
    return f"rule:gate:{name}"


def gate_alerts(readings: Iterable[GateReading]) -> list[RuleAlert]:
    """A red gate is a critical alert, a yellow one a warning."""
    return [
        RuleAlert(fingerprint=gate_fingerprint(r.name), severity="critical" if r.band is Band.RED else "warning",
                  name=f"{r.name} {r.band.value}",
                  summary=f"{r.shown} (green {r.bands.green if r.bands else '?'})")
        for r in readings if r.band in (Band.RED, Band.YELLOW)
    ]


def read_after(reading: GateReading, evaluated_at: datetime, since: datetime | None) -> bool:
    """Whether `reading` was read after `since`, the moment the rules last found the
    probe history rewritten under them (the demo's `n`, which empties the alerts and
    seeds a clean week; a buffer written back after an outage). A probe gate is read by
    the evaluation (`evaluated_at`, the snapshot's time); a query gate is its query's last
    answer (`observed_at`, stamped when the query was sent, so never later than its read).
    Before any rewrite is seen (`since` None) every reading is."""
    if since is None:
        return True
    when = evaluated_at if reading.source == "probe" else reading.observed_at
    return when is not None and when > since


def judge_gates(readings: Sequence[GateReading], evaluated_at: datetime,
                since: datetime | None) -> tuple[list[RuleAlert], list[str]]:
    """The gate alerts of one snapshot: those its readings read after `since` raise, and
    the fingerprints of the readings read before it, which this pass neither raises nor
    resolves. Raising them would bring back what the rewrite cleared (the fault's red
    after `n`); resolving them would close an alert that a fresh read may raise again,
    a new episode and a bell for nothing. The next reading after `since` decides."""
    fresh = [r for r in readings if read_after(r, evaluated_at, since)]
    held = [gate_fingerprint(r.name) for r in readings if not read_after(r, evaluated_at, since)]
    return gate_alerts(fresh), held


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
