"""What the go/no-go report says, as one frozen `ReportData`, read from the database
as it stood at a moment T (`read_report`). The renderers (markdown.py, html.py) are
pure functions of it.

Reproducible from the database alone: nothing here comes from the live engine or
from rows written after T. Each gate's value, band, window and coverage are its newest
recorded evaluation at or before T; the verdict is the verdict rule over those bands;
the rollout's state is the audit trail replayed up to T; the decision is the newest
review at or before T. The config gives only what it names: the flag, the gates, the
burn-in dates, the zone, and the bands a value's digits are chosen against."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo

from pydantic import ConfigDict

from checks.burn_in import count_clean_days
from checks.durations import duration_text
from checks.models import (
    AuditEvent,
    Band,
    Bands,
    BurnInView,
    Coverage,
    CriterionMark,
    Frozen,
    GateReading,
    ReviewRecord,
    RolloutStateName,
    Verdict,
)
from checks.verdict import reasons as verdict_reasons
from checks.verdict import verdict as decide

# A leader records every gate's evaluation every 15 s. A newest record older than this
# at T means nobody was evaluating then: the gate is stale, so UNKNOWN (never green).
STALE_AFTER = timedelta(minutes=2)
TREND_SPAN = timedelta(days=7)
TREND_BUCKET = timedelta(hours=1)
ALERT_LIMIT = 500  # a storm of alerts is counted, not listed row by row past this


class Criterion(Frozen):
    """One gate as the report shows it at T."""

    reading: GateReading  # value, band, unit, window, coverage, detail, stale, as recorded
    evaluated_at: datetime | None = None  # the recorded evaluation read; None: none at or before T
    recorded: bool = False  # the evaluation said what it was judged over (written after migration 12)
    mark: CriterionMark | None = None  # the review's mark and note, when a review marked this gate
    criterion: bool = True  # one of `[review] criteria` (all gates are, when it names none)
    trend: tuple[tuple[datetime, float | None, float | None], ...] = ()  # hourly (start, lowest, highest)


class RolloutAsOf(Frozen):
    """The rollout as the audit trail leaves it at T."""

    flag: str
    steps: tuple[int, ...]
    percentage: int
    state: RolloutStateName
    since: datetime | None = None  # the last action's time; None: never acted on


class AlertRow(Frozen):
    """An alert's episode as it stood at T (see console/store/report_reads.AlertAsOf)."""

    source: str
    severity: str
    name: str
    summary: str = ""
    first_at: datetime
    last_at: datetime | None = None  # its end by T; None: still firing at T
    resolved_at: datetime | None = None  # None: open at T
    acked_at: datetime | None = None
    acked_by: str = ""


class ReportData(Frozen):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    flag: str
    at: datetime  # T
    zone: tzinfo  # every time is written in it, with it
    period_start: datetime  # the burn-in's start, or a week before T without one: the alerts' period
    burn_in: BurnInView | None = None
    criteria: tuple[Criterion, ...] = ()
    verdict: Verdict
    reasons: tuple[str, ...] = ()
    rollout: RolloutAsOf
    history: tuple[AuditEvent, ...] = ()
    review: ReviewRecord | None = None
    alerts: tuple[AlertRow, ...] = ()
    alerts_total: int = 0

    @property
    def auto_rollbacks(self) -> tuple[AuditEvent, ...]:
        return tuple(e for e in self.history if e.automatic and e.action == "rollback")

    @property
    def unrecorded(self) -> tuple[str, ...]:
        """The gates whose evaluation at T does not say its window and coverage."""
        return tuple(c.reading.name for c in self.criteria if c.evaluated_at is not None and not c.recorded)


def parse_moment(text: str, zone: tzinfo) -> datetime:
    """`--at`: ISO 8601 (`2025-11-24T09:00:00Z`, `2025-11-24T10:00+01:00`) or
    `2025-11-24 09:00`; a time without an offset is in `zone`. ValueError says how
    to write it."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a time; write ISO 8601, e.g. \"2025-11-24 09:00\" (in the console's"
                         " zone) or \"2025-11-24T09:00:00Z\"") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=zone)


def rollout_as_of(flag: str, steps: Sequence[int], events: Sequence[AuditEvent]) -> RolloutAsOf:
    """The rollout after `events` (the audit trail up to T, oldest first), replayed as
    checks.rollout.decide moves it (a flag never acted on is idle at the first step).
    Reviews are not actions: they move nothing."""
    steps = tuple(steps)
    if not events:
        return RolloutAsOf(flag=flag, steps=steps, percentage=steps[0], state="idle")
    last = events[-1]
    after: dict[str, RolloutStateName] = {"rollback": "rolled_back", "hold": "held", "resume": "soaking"}
    state = after.get(last.action) or ("complete" if last.to_pct >= steps[-1] else "soaking")
    return RolloutAsOf(flag=flag, steps=steps, percentage=last.to_pct, state=state, since=last.at)


def criterion_reading(name: str, recorded, *, at: datetime, unit: str, bands: Bands | None,
                      source: str) -> tuple[GateReading, bool]:
    """A gate's reading at `at` from its newest recorded evaluation (or None): the
    stored band, stale (UNKNOWN) when the record is older than STALE_AFTER, and the
    window and coverage when the record holds them. Returns it with whether it did."""
    base = dict(name=name, unit=unit, bands=bands, source=source)
    if recorded is None:
        return GateReading(**base, value=None, band=Band.UNKNOWN, detail="no evaluation recorded by then"), False
    stale = at - recorded.at > STALE_AFTER
    try:
        band = Band(recorded.band)
    except ValueError:
        band = Band.UNKNOWN
    detail = recorded.detail
    if stale:
        band = Band.UNKNOWN
        detail = f"stale: last recorded {duration_text(at - recorded.at)} before"
    has_window = recorded.window is not None
    coverage = None
    if recorded.window_s is not None and recorded.covered_s is not None:
        coverage = Coverage(window_seconds=recorded.window_s, covered_seconds=recorded.covered_s,
                            samples=recorded.samples or 0)
    reading = GateReading(**{**base, "unit": recorded.unit if recorded.unit is not None else unit},
                          value=recorded.value, band=band, window=recorded.window or "", detail=detail,
                          stale=stale, observed_at=recorded.at, coverage=coverage)
    return reading, has_window


async def read_report(store, config, at: datetime, zone: tzinfo) -> ReportData:
    """Everything the report says about moment `at`, read in one view of the database."""
    from ..store import report_reads as reads

    flag, steps = config.rollout.flag, tuple(config.rollout.steps)
    bi = config.burn_in
    start = bi.start if bi is not None else at - TREND_SPAN
    # The review's criteria first, in their order, then the other gates: the verdict
    # rule is over every gate, so the recommendation's reasons can name any of them.
    named = list(config.review.criteria)
    gates = sorted(config.gates, key=lambda g: named.index(g.name) if g.name in named else len(named))
    async with reads.as_of_one_moment(store):
        evaluations = await reads.evaluations_at(store, [g.name for g in gates], at)
        events = await reads.rollout_events_until(store, flag, at)
        review = await store.latest_review(flag, until=at)
        alerts, total = await reads.alerts_in(store, start, at, ALERT_LIMIT)
        trends = {g.name: await store.gate_trend(g.name, at - TREND_SPAN, TREND_BUCKET, until=at) for g in gates}
        days = await reads.daily_uptime_until(store, bi.start, at) if bi is not None else []
    marks = {m.gate: m for m in review.criteria} if review is not None else {}
    criteria = []
    for g in gates:
        reading, recorded = criterion_reading(g.name, evaluations.get(g.name), at=at, unit=g.display_unit,
                                              bands=g.bands, source=g.source)
        criteria.append(Criterion(reading=reading, evaluated_at=reading.observed_at, recorded=recorded,
                                  mark=marks.get(g.name), trend=tuple(trends[g.name]),
                                  criterion=not named or g.name in named))
    readings = [c.reading for c in criteria]
    burn_in = None
    if bi is not None:
        threshold = next((g.bands.green.threshold for g in gates if g.probe_metric == "uptime"), 99.98)
        burn_in = BurnInView(start=bi.start, end=bi.end, review=bi.review, days=bi.days,
                             clean_days=count_clean_days(days, threshold))
    rollout = rollout_as_of(flag, steps, events)
    return ReportData(
        flag=flag, at=at, zone=zone, period_start=start,
        burn_in=burn_in, criteria=tuple(criteria), verdict=decide(r.band for r in readings),
        reasons=verdict_reasons(readings), rollout=rollout, history=tuple(events), review=review,
        alerts=tuple(AlertRow(**a._asdict()) for a in alerts), alerts_total=total,
    )

