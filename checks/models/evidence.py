"""What the history chart draws over a window, and what the review screen shows
under a criterion: the chart, failed probes, the actions, an evidence query's rows."""
from __future__ import annotations

from datetime import datetime

from .base import Frozen
from .gates import ProbeResult
from .rollout import AuditEvent


class ChartView(Frozen):
    """What the history chart draws for one gate over one window (checks.times
    CHART_WINDOWS), read by the App: the gate's recorded values folded into buckets
    by the database (the 1 h window too; the chart adds the trend recorded since), and
    the rollout's actions in the window, marked on the chart."""

    gate: str
    window: str  # "1h", "24h", "7d"
    start: datetime
    end: datetime
    points: tuple[tuple[datetime, float | None, float | None], ...] = ()  # (bucket start, lowest, highest)
    events: tuple[AuditEvent, ...] = ()
    failed: str = ""  # why the last read did not answer (the points shown are the last that did)


class EvidenceTable(Frozen):
    """The rows behind a sql gate's number (its `evidence` query): a time stays a time,
    written in the console's zone when drawn (and again when `z` flips it); every other
    cell is text, outside text, shown through widgets.literal."""

    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str | datetime, ...], ...] = ()
    more: bool = False  # the query had more rows than are shown
    error: str = ""  # why there are none (refused, timed out)


class CriterionEvidence(Frozen):
    """What the review screen shows under a criterion on Enter: its chart over the
    period, the failed probes of its targets in the period (the newest listed), the rollout's actions
    and auto-rollbacks in the period, and the evidence query's rows."""

    gate: str
    since: datetime
    chart: ChartView | None = None  # the 7-day window, the rollout's actions marked on it
    failed_probes: tuple[ProbeResult, ...] = ()  # the newest failed in the period, their raw rows still kept
    failed_total: int | None = None  # how many of its targets' probes failed in the period (None: not a probe gate)
    actions: tuple[AuditEvent, ...] = ()
    table: EvidenceTable | None = None
    error: str = ""  # the database did not answer
