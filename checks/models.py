"""The typed values that cross every boundary: gate specs, readings, the snapshot.

All models are frozen so a widget can compare the new snapshot with the old one by
value and skip a redraw when nothing changed.
"""
from __future__ import annotations

import re
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, computed_field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Band(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    UNKNOWN = "unknown"


class Verdict(StrEnum):
    GO = "GO"
    HOLD = "HOLD"
    ROLLBACK = "ROLLBACK"


Op = Literal["<", "<=", ">", ">="]
_CONDITION = re.compile(r"^\s*(<=|>=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$")


class Condition(Frozen):
    """One side of a band: `value OP threshold`, e.g. `< 0.1` or `>= 98`."""

    op: Op
    threshold: float

    @classmethod
    def parse(cls, text: str) -> "Condition":
        m = _CONDITION.match(text)
        if not m:
            raise ValueError(
                f"{text!r} is not a condition; write an operator and a number, like \"< 0.1\" or \">= 98\""
            )
        return cls(op=m.group(1), threshold=float(m.group(2)))  # type: ignore[arg-type]

    def holds(self, value: float) -> bool:
        t = self.threshold
        return {
            "<": value < t,
            "<=": value <= t,
            ">": value > t,
            ">=": value >= t,
        }[self.op]

    @property
    def lower_is_better(self) -> bool:
        return self.op in ("<", "<=")

    def __str__(self) -> str:
        return f"{self.op} {self.threshold:g}"


class Bands(Frozen):
    """Green when `green` holds, red when `red` holds, yellow in between."""

    green: Condition
    red: Condition


class Coverage(Frozen):
    """How much of a windowed gate's window its samples cover (checks.coverage)."""

    window_seconds: float
    covered_seconds: float  # buckets holding a sample × the bucket size, at most the window
    samples: int

    @property
    def fraction(self) -> float:
        return 1.0 if self.window_seconds <= 0 else min(1.0, self.covered_seconds / self.window_seconds)


Granularity = Literal["raw", "minute", "hour"]


class WindowSlice(Frozen):
    """One part of a probe gate's window, read in one pass over one table
    (checks.probe_windows cuts a window into slices; the store reads them)."""

    source: Granularity
    targets: tuple[str, ...]
    bin_seconds: int  # the coverage bucket (checks.coverage.bucket_for)
    latency: bool = False  # the p95 is wanted: raw rows give it exactly, rollups a histogram
    window_seconds: float | None = None  # raw: rows with at > now() - window
    lo: datetime | None = None  # rollups: buckets from lo ...
    hi: datetime | None = None  # ... to before hi (None: up to now)
    minute_masks: bool = False  # hour rows of a minute-grained window: coverage from their minute masks


class SliceResult(Frozen):
    """What the store read for one WindowSlice."""

    ok: int = 0
    total: int = 0
    histogram: dict[int, int] = Field(default_factory=dict)  # latency bin → probes (checks.latency_histogram)
    exact_p95: float | None = None  # raw rows: percentile_cont(0.95)
    latency_samples: int = 0  # raw rows: probes with a latency
    covered: frozenset[int] = frozenset()  # rollups: starts (epoch seconds) of coverage buckets holding a probe
    covered_count: int = 0  # raw rows: how many coverage buckets hold a probe
    covered_latency_count: int = 0  # raw rows: ... a probe with a latency (what a p95 is read from)


class LatestProbe(Frozen):
    """A target's newest probe result (None when it was never probed)."""

    target: str
    at: datetime | None = None
    ok: bool = False


class GateReading(Frozen):
    """One gate's value at one moment, judged."""

    name: str
    value: float | None
    band: Band
    unit: str = ""
    source: str = "probe"
    window: str = ""
    target: str = ""
    bands: Bands | None = None
    detail: str = ""  # e.g. "4/5 healthy" or the reason the value is missing
    stale: bool = False
    observed_at: datetime | None = None
    coverage: Coverage | None = None  # windowed probe gates: how much of the window the data covers

    @computed_field  # type: ignore[prop-decorator]
    @property
    def shown(self) -> str:
        """The value as an operator reads it (checks.verdict.format_value): what the
        table, the CLI and the report print, so a widget needs nothing but this model."""
        from .verdict import format_value  # verdict judges with these models: imported when read

        return format_value(self.value, self.unit, self.bands)


class ProbeResult(Frozen):
    """One health check of one target."""

    target: str
    at: datetime
    ok: bool
    status: int | None = None
    latency_ms: float | None = None
    reason: str = ""


class Alert(Frozen):
    at: datetime
    source: str  # "rule", "alertmanager", "events"
    severity: str  # P0..P4 or critical / warning / info
    name: str
    summary: str = ""
    fingerprint: str = ""
    acked: bool = False
    first_at: datetime | None = None  # when this episode began (`at` is when it was last seen): with the
    # fingerprint, the identity of one loud event (checks.notices), which rings once
    labels: dict[str, str] = Field(default_factory=dict)  # Alertmanager's, bounded (checks.alertmanager); the
    # feed leaves them out, the alert's detail reads them back from the store
    labels_left_out: int = 0  # labels beyond the bound, counted, not kept


RolloutStateName = Literal["idle", "soaking", "held", "rolled_back", "complete"]


def soak_elapsed(done_seconds: float, running_since: datetime | None, now: datetime) -> float:
    """The one soak clock: what was done before, plus the time since it last started
    running (None: paused). Rollout state, screen and preview all read it so."""
    running = (now - running_since).total_seconds() if running_since is not None else 0.0
    return done_seconds + max(0.0, running)


class RolloutView(Frozen):
    flag: str
    steps: tuple[int, ...]
    percentage: int
    state: RolloutStateName
    version: int
    stage_started_at: datetime | None = None
    soak_seconds: float = 0.0  # this step's soak
    soak_elapsed_seconds: float = 0.0  # soak already done, as of `as_of`
    as_of: datetime | None = None  # when soak_elapsed_seconds was measured
    updated_by: str = ""
    actuation: Literal["ok", "pending", "failed"] = "ok"  # did the change reach the system?
    actuation_error: str = ""

    def soak_elapsed_at(self, now: datetime) -> float:
        """Soak done at `now`: the clock runs only while soaking."""
        return soak_elapsed(self.soak_elapsed_seconds, self.as_of if self.state == "soaking" else None, now)

    def soak_left_at(self, now: datetime) -> float:
        return max(0.0, self.soak_seconds - self.soak_elapsed_at(now))


class AuditEvent(Frozen):
    """One event of a rollout's audit trail, as the history screen, `gonogo status`
    and the report show it (the chain and signature fields stay in checks.audit)."""

    at: datetime
    operator: str
    action: str
    from_pct: int
    to_pct: int
    reason: str
    verdict: str
    automatic: bool = False
    override: bool = False
    review: "ReviewRecord | None" = None  # a go/no-go review's decision and marks (action "review")

    @property
    def marks(self) -> str:
        """`AUTO`, `OVERRIDE`, both or neither: the one place these are spelled."""
        return " ".join(m for m, on in (("AUTO", self.automatic), ("OVERRIDE", self.override)) if on)

    def status_json(self) -> dict:
        """The shape `gonogo status --json` prints (DESIGN.md's contract)."""
        return {"at": self.at.isoformat(), "operator": self.operator, "action": self.action, "from": self.from_pct,
                "to": self.to_pct, "reason": self.reason, "automatic": self.automatic, "override": self.override,
                "verdict": self.verdict}


class BurnInView(Frozen):
    start: datetime
    end: datetime
    review: datetime
    clean_days: int
    days: int


class SourceHealth(Frozen):
    """Whether a data source answered on its last attempt, and why not."""

    name: str
    ok: bool
    reason: str = ""
    since: datetime | None = None


class BreachRun(Frozen):
    """A gate watched by auto-rollback that is red now: for how long, over how many
    recorded evaluations."""

    gate: str
    seconds: float
    evaluations: int


class AutoRollbackView(Frozen):
    enabled: bool
    gates: tuple[str, ...] = ()
    sustain_seconds: float = 0.0
    consecutive: int = 0
    breaching: tuple[BreachRun, ...] = ()


class Snapshot(Frozen):
    """Everything on screen at one moment."""

    at: datetime
    verdict: Verdict
    reasons: tuple[str, ...] = ()
    gates: tuple[GateReading, ...] = ()
    rollout: RolloutView | None = None
    alerts: tuple[Alert, ...] = ()
    burn_in: BurnInView | None = None
    database: SourceHealth = Field(default_factory=lambda: SourceHealth(name="database", ok=True))
    sources: tuple[SourceHealth, ...] = ()
    leader: bool = False
    auto_rollback: AutoRollbackView | None = None
    history: dict[str, tuple[float | None, ...]] = Field(default_factory=dict)
    # The newest automatic rollback of the flag in the audit trail, read while its alert
    # is open and unacknowledged: the banner says from → to, when and why (checks.notices).
    auto_rollback_event: AuditEvent | None = None
    # When each value of `history` was recorded (the chart's clock axis); empty: 15 s apart, ending at `at`.
    history_at: dict[str, tuple[datetime, ...]] = Field(default_factory=dict)

    @property
    def stance(self) -> "Stance":
        """What the gates say and what the rollout is, apart (checks.notices.stance),
        judged at the snapshot's own time: a widget needs nothing but this model."""
        from .notices import stance  # notices judges with these models: imported when read

        return stance(self.verdict, self.reasons, self.rollout, self.at)

    @property
    def notices(self) -> tuple["Notice", ...]:
        """The loud events not yet acknowledged, as every console shows them."""
        from .notices import loud_notices

        return loud_notices(self.alerts, self.rollout, self.auto_rollback_event)

    @property
    def notice_lines(self) -> tuple[str, ...]:
        """The banner's loud lines: the notices, the last line folding those with no room."""
        from .notices import banner_lines

        return banner_lines(self.notices)

    def stance_in(self, zone: "tzinfo") -> "Stance":
        """`stance`, its times written in `zone` (the console's zone, or UTC)."""
        from .notices import stance

        return stance(self.verdict, self.reasons, self.rollout, self.at, zone)

    def notice_lines_in(self, zone: "tzinfo") -> tuple[str, ...]:
        """`notice_lines`, their times written in `zone`."""
        from .notices import banner_lines, loud_notices

        return banner_lines(loud_notices(self.alerts, self.rollout, self.auto_rollback_event, zone))


RolloutAction = Literal["advance", "hold", "resume", "rollback"]
"""The four things an operator (or auto-rollback) does to a rollout: the keys, the
CLI's commands, the controller, the audit trail and the notices all name them so."""
ROLLOUT_ACTIONS: tuple[RolloutAction, ...] = get_args(RolloutAction)

Actuation = Literal["ok", "pending", "failed", "superseded", ""]
"""Whether a change reached the system: applied, not yet, failed (with a reason), or
overtaken by a newer change that applied itself instead ("": not said)."""


class ActionRequest(Frozen):
    """What an operator confirmed in the action dialog: the App hands it to the
    RolloutController with the version (and verdict) they saw when they confirmed."""

    action: RolloutAction
    reason: str
    override: bool = False
    seen_version: int
    seen_verdict: Verdict  # the verdict the operator confirmed against


class RolloutNotice(Frozen):
    """A rollout change, as every console hears it: the NOTIFY payload the controller
    sends (an action: who did what, from → to; or an actuation's outcome), and the
    notice the leader gives its own screen when it applied a change a crash had left
    unapplied (`recovered`; never sent).

    It comes from outside (any process may NOTIFY the channel), so a payload that
    does not validate is ignored; keys it does not know are ignored too, so a newer
    console's notice still reaches an older one. On the wire (console/store/rollout.py
    `notify`) `from_pct` and `to_pct` are `from` and `to`, and fields left at their
    default are left out."""

    model_config = ConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    flag: str
    version: int | None = None
    operator: str = ""
    action: RolloutAction | None = None
    from_pct: int | None = Field(default=None, alias="from")
    to_pct: int | None = Field(default=None, alias="to")
    automatic: bool = False
    origin: str = ""  # host:pid of the process that acted: a console skips the notice of its own action
    actuation: Actuation = ""
    recovered: str = ""  # what the leader re-applied after a crash (its own screen only)
    review: str = ""  # a go/no-go review was recorded: its decision, "GO" or "NO-GO" (action stays None)


class AlertDetail(Frozen):
    """One alert as its detail screen shows it: the whole text, where it came from,
    when it was first and last seen, and who acknowledged it (the feed's `Alert`
    carries only what a row shows)."""

    fingerprint: str
    source: str
    severity: str
    name: str
    summary: str = ""
    first_at: datetime
    last_at: datetime
    resolved_at: datetime | None = None
    acked_at: datetime | None = None
    acked_by: str = ""
    labels: dict[str, str] = Field(default_factory=dict)  # Alertmanager's labels; {} for the other sources
    labels_left_out: int = 0  # how many more labels the alert had than were kept (checks.alertmanager)


NoticeKind = Literal["auto_rollback", "actuation", "critical"]


class Notice(Frozen):
    """A loud event (an auto-rollback, a rollout not applied, a new critical alert):
    a line on the banner of every console until someone acknowledges its alert, and
    one ring of the bell in each console that saw it happen (checks.notices)."""

    key: str  # the event: its alert's fingerprint and the moment it began; rings once
    kind: NoticeKind
    fingerprint: str
    name: str  # the alert's name, for a folded line ("+ 2 more: DiskFull, …")
    at: datetime
    text: str  # outside text inside (reasons, summaries): shown through widgets.literal


class Stance(Frozen):
    """The banner's two statements, kept apart: what the gates say (a recommendation)
    and what the rollout is (a fact, and whether an advance would pass now)."""

    verdict: Verdict
    note: str = ""  # under the verdict word: "recommended", "at 0 %" (nothing left to roll back)
    gates: str  # "ROLLBACK recommended: error_rate red (1.80 %)"
    rollout: str  # "advance not allowed: soak has 3h 12m left" / "advance allowed: 10 % → 25 %"
    advance_allowed: bool = False
    rolled_back: bool = False  # the rollout is rolled back (a fact, not a recommendation)


ReviewDecisionName = Literal["GO", "NO-GO"]
REVIEW_DECISIONS: tuple[ReviewDecisionName, ...] = get_args(ReviewDecisionName)


class CriterionMark(Frozen):
    """One burn-in criterion as the reviewer saw and marked it: the gate's reading at
    that moment (checks.review.criteria) and the reviewer's mark. Unmarked is not
    accepted: a GO needs every criterion accepted, or an override."""

    gate: str
    value: float | None = None
    shown: str = ""  # the value as the screen showed it (GateReading.shown)
    band: Band = Band.UNKNOWN
    window: str = ""
    coverage: float | None = None  # the fraction of the window the data covers; None: not a windowed gate
    accepted: bool = False
    note: str = ""  # the reviewer's, outside text: shown through widgets.literal


class ReviewDecision(Frozen):
    """What a reviewer records (the review screen's dialog, `gonogo review`): the
    RolloutController writes it as a `review` event of the audit trail."""

    decision: ReviewDecisionName
    reason: str
    present: str = ""  # the names of the others present, free text
    criteria: tuple[CriterionMark, ...] = ()
    override: bool = False  # GO recorded over a criterion not accepted
    seen_version: int | None = None  # the rollout version the reviewer saw; None: not checked (a script)


class ReviewRecord(Frozen):
    """A recorded review, read back from the audit trail (Store.reviews): who decided
    what, when, at which percentage and verdict, and each criterion's mark."""

    id: int  # the audit event's id
    at: datetime
    operator: str
    decision: ReviewDecisionName
    reason: str
    present: str = ""
    override: bool = False
    verdict: str  # the gates' verdict when the decision was recorded
    percentage: int
    criteria: tuple[CriterionMark, ...] = ()

    def review_json(self) -> dict:
        """The shape `gonogo review --json` prints for a recorded review."""
        return {"id": self.id, "at": self.at.isoformat(), "operator": self.operator, "decision": self.decision,
                "reason": self.reason, "present": self.present, "override": self.override, "verdict": self.verdict,
                "percentage": self.percentage, "criteria": [c.model_dump(mode="json") for c in self.criteria]}


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


NotifyKind = Literal["auto_rollback", "actuator_failure", "critical_alert_opened", "critical_alert_resolved",
                     "review_decision", "rollout_action"]


class NotifyEvent(Frozen):
    """One event a `[[notify]]` webhook may be told of, read by the leader from the row
    it comes from (Store.notify_events). `key` is derived from that row (an audit
    event's id, an alert episode, a rollout version), so whichever leader reads it,
    whenever, it is the same event: the outbox sends it once per webhook. Text fields
    are outside text (operators, reasons, summaries)."""

    key: str
    kind: NotifyKind
    at: datetime
    flag: str = ""
    action: str = ""  # the audit row's action (advance, hold, resume, rollback, review)
    from_pct: int | None = None
    to_pct: int | None = None
    operator: str = ""
    reason: str = ""
    automatic: bool = False
    override: bool = False
    verdict: str = ""  # the gates' verdict at an action; a review's decision (GO / NO-GO)
    severity: str = ""  # alerts
    name: str = ""
    summary: str = ""  # an alert's summary, an actuator's error
    source: str = ""


class EvidenceTable(Frozen):
    """The rows behind a sql gate's number (its `evidence` query), every cell as text:
    outside text, shown through widgets.literal."""

    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    more: bool = False  # the query had more rows than are shown
    error: str = ""  # why there are none (refused, timed out)


class CriterionEvidence(Frozen):
    """What the review screen shows under a criterion on Enter: its chart over the
    period, the failed probes among the newest of its targets, the rollout's actions
    and auto-rollbacks in the period, and the evidence query's rows."""

    gate: str
    since: datetime
    chart: ChartView | None = None  # the 7-day window, the rollout's actions marked on it
    failed_probes: tuple[ProbeResult, ...] = ()
    probes_read: int = 0  # how many recent probes the failed ones were found among
    actions: tuple[AuditEvent, ...] = ()
    table: EvidenceTable | None = None
    error: str = ""  # the database did not answer
