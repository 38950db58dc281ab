"""One evaluation: readings → judgement → snapshot.

The readings come in: the leader's buffered probes (written first, by the engine's
`write_probes`), every probe gate read in one statement (gate_reads.py), the query
gates' last answers (handed over by the engine's query loops with `answer`), the
rollout, the alerts and the clean days. Each gate is judged (checks.bands,
checks.coverage), the verdict decided (checks.verdict), what is due recorded and
auto-rollback asked (auto_rollback.py), and one frozen Snapshot comes out. It sees
the engine only through what it is given: who leads (asked), the other sources'
health (read) and the writer of the probe buffer (called first)."""
from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg

from checks.bands import judge
from checks.burn_in import count_clean_days
from checks.coverage import bucket_for, coverage, describe, enough
from checks.durations import duration_text
from checks.models import AuditEvent, Band, BurnInView, GateReading, Snapshot, SourceHealth
from checks.notices import AUTO_ROLLBACK_PREFIX, event_key
from checks.verdict import reasons as verdict_reasons
from checks.verdict import verdict as decide

from ..config import Config, Gate
from ..durations import format_duration
from ..secrets import one_line
from ..store.db import Store, StoreUnavailable
from .auto_rollback import AutoRollback
from .gate_reads import ProbeAggregate, ProbeGateReader, ProbeGateSpec

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class QueryResult:
    """The last answer of a PromQL or SQL gate."""

    value: float | None = None
    error: str = ""
    observed_at: datetime | None = None  # last time the source answered (with or without a number)


@dataclass
class EvaluationState:
    """What one evaluation keeps for the next: the query gates' answers, the trends,
    each gate's last reading (shown, stale, while the database is away), the
    database's health and the clean days (counted at most once a minute)."""

    query_results: dict[str, QueryResult] = field(default_factory=dict)
    history: dict[str, deque] = field(default_factory=dict)
    last_readings: dict[str, GateReading] = field(default_factory=dict)
    database: SourceHealth = field(default_factory=lambda: SourceHealth(name="database", ok=True))
    clean_days: int = 0
    clean_days_at: datetime | None = None


async def _nothing_to_write() -> None:
    return None


class Evaluation:
    """Turns the store's reads into one Snapshot (the Engine, console/engine/core.py,
    holds one and calls `evaluate` from its loop and its one-shots).

    `leading` says whether this process leads now (asked where it matters: only the
    leader writes its probes, records and acts); `sources` is the engine's view of its
    other sources (Alertmanager, the alert rules, probe writes), shown as it is when
    the snapshot is built; `write_probes` writes the leader's buffered probes before
    the read."""

    def __init__(
        self,
        config: Config,
        store: Store,
        auto: AutoRollback,
        *,
        clock: Clock,
        leading: Callable[[], bool] = lambda: False,
        sources: Mapping[str, SourceHealth] | None = None,
        write_probes: Callable[[], Awaitable[None]] = _nothing_to_write,
    ):
        self.config = config
        self.store = store
        self.auto = auto
        self.clock = clock
        self.leading = leading
        self.sources: Mapping[str, SourceHealth] = sources if sources is not None else {}
        self.write_probes = write_probes
        self.state = EvaluationState()
        self.snapshot: Snapshot | None = None  # the last one built
        self.gate_reader = ProbeGateReader()
        self._targets_of: dict[str, tuple[list[str], timedelta]] = {}
        self._history_cache: dict[str, tuple] | None = None
        self._history_at: dict[str, tuple] = {}  # when each trend value was recorded (the chart's clock axis)
        # (the open auto-rollback alert's event key, its audit event): read once per alert
        self._auto_event: tuple[str, AuditEvent | None] | None = None

    # -- what the engine's loops hand in ----------------------------------------

    @property
    def database(self) -> SourceHealth:
        return self.state.database

    def answer(self, gate: str, result: QueryResult) -> None:
        """A query gate's answer (or its failure), from the engine's query loop."""
        self.state.query_results[gate] = result

    def last_answer(self, gate: str) -> QueryResult:
        return self.state.query_results.get(gate) or QueryResult()

    def db_down(self, reason: str, now: datetime) -> None:
        """The database is away (seen by a loop or by the evaluation): said on the
        snapshot, with since when, until an evaluation reads it again."""
        prev = self.state.database
        since = prev.since if not prev.ok and prev.since else now
        sup = self.store.supervisor
        if sup is not None and sup.restarting:  # why it is away says more than "connection refused"
            reason = sup.describe()
        self.state.database = SourceHealth(name="database", ok=False, reason=reason, since=since)

    def _db_up(self, now: datetime) -> None:
        if not self.state.database.ok:
            self.state.database = SourceHealth(name="database", ok=True, since=now)

    async def load_history(self) -> None:
        """The last hour of recorded evaluations, for the trends (at the engine's start)."""
        try:
            hist = await self.store.gate_series(self.clock() - timedelta(hours=1))
        except StoreUnavailable as e:
            self.db_down(str(e), self.clock())
            return
        for name, rows in hist.items():
            dq = self.state.history.setdefault(name, deque(maxlen=240))
            dq.extend((at, value) for at, value, _ in rows)
        self._history_cache = None

    # -- one evaluation -----------------------------------------------------------

    async def evaluate(self) -> Snapshot:
        try:
            async with self.store.session():
                return await self._evaluate()
        except StoreUnavailable as e:
            # No connection at all: say why at once, with the last values, stale.
            self.db_down(str(e), self.clock())
            return await self._evaluate(db_ok=False)

    async def _evaluate(self, db_ok: bool = True) -> Snapshot:
        now = self.clock()
        if db_ok and self.leading():  # only the leader writes what it probed
            await self.write_probes()
        probe_gates = [g for g in self.config.gates if g.source == "probe"]
        aggregates: dict[int, ProbeAggregate] = {}
        probe_error = ""
        if db_ok and probe_gates:
            try:  # every probe gate in one round trip
                got = await self.gate_reader.read(self.store, [self.probe_spec(g) for g in probe_gates])
                aggregates = {id(g): a for g, a in zip(probe_gates, got)}
            except StoreUnavailable as e:
                db_ok = False
                self.db_down(str(e), now)
            except psycopg.Error as e:  # the read failed (too slow, ...): said on each probe gate
                probe_error = f"query failed: {_short(e)}"
        readings = []
        for gate in self.config.gates:
            reading = None
            if gate.source == "probe":
                if id(gate) in aggregates:
                    reading = self._probe_reading(gate, now, aggregates[id(gate)])
                elif probe_error:
                    reading = self._stale_copy(gate, now).model_copy(update={"detail": probe_error})
            elif db_ok or gate.source == "promql":  # a PromQL gate does not need the database
                reading = self._query_reading(gate, now)
            readings.append(reading or self._stale_copy(gate, now))
        rollout = alerts = None
        if db_ok:
            try:
                rollout = await self.store.rollout_view(
                    self.config.rollout.flag, self.config.rollout.steps, self.config.rollout.soak_for
                )
                alerts = tuple(await self.store.recent_alerts(50))
                await self._read_auto_event(alerts)
                await self._refresh_clean_days(now)
                await self._record(now, readings, rollout)
                self._db_up(now)
            except StoreUnavailable as e:
                db_ok = False
                self.db_down(str(e), now)
            except psycopg.Error as e:  # answered, but with an error: not a state to show as healthy
                db_ok = False
                self.db_down(f"database error: {_short(e)}", now)
        prev = self.snapshot
        for r in readings:
            self.state.last_readings[r.name] = r
        # Built from values already validated (readings, views): constructing it without
        # re-validating ~2000 history floats every second is most of the engine's idle cost.
        # Stamped when its reads ended, not when they began: a slow evaluation (a cold
        # read of a week of rollups) must not arrive already looking stale.
        snap = Snapshot.model_construct(
            at=max(now, self.clock()),
            verdict=decide(r.band for r in readings),
            reasons=verdict_reasons(readings),
            gates=tuple(readings),
            rollout=rollout if rollout is not None else (prev.rollout if prev else None),
            alerts=alerts if alerts is not None else (prev.alerts if prev else ()),
            burn_in=self._burn_in_view(),
            database=self.state.database,
            sources=tuple(self.sources.values()),
            leader=self.leading(),
            auto_rollback=self.auto.view,
            history=self._history_view(),
            history_at=self._history_at,  # rebuilt by _history_view with the values
            auto_rollback_event=self._auto_event[1] if self._auto_event else None,
        )
        self.snapshot = snap
        return snap

    async def _read_auto_event(self, alerts) -> None:
        """The audit event of an open, unacknowledged auto-rollback alert (the banner
        says from → to, when and why: checks.notices): read when such an alert
        appears, kept while it stays, dropped once it is acknowledged."""
        fp = f"{AUTO_ROLLBACK_PREFIX}{self.config.rollout.flag}"
        alert = next((a for a in alerts if a.fingerprint == fp and not a.acked), None)
        if alert is None:
            self._auto_event = None
            return
        key = event_key(alert)
        if self._auto_event is None or self._auto_event[0] != key:
            self._auto_event = (key, await self.store.last_auto_rollback(self.config.rollout.flag))

    def _gate_targets(self, gate: Gate) -> tuple[list[str], timedelta]:
        """The targets a probe gate reads, and the longest interval among them (worked
        out once: with 100 targets and 30 gates, every second, it showed in profiles)."""
        got = self._targets_of.get(gate.name)
        if got is None:
            targets = [gate.target] if gate.target else [t.name for t in self.config.targets]
            names = set(targets)
            got = self._targets_of[gate.name] = (targets, max(t.interval for t in self.config.targets if t.name in names))
        return got

    def probe_spec(self, gate: Gate) -> ProbeGateSpec:
        """What `gate` reads (gate_reads.py)."""
        targets, max_interval = self._gate_targets(gate)
        return ProbeGateSpec(gate.probe_metric, gate.window, tuple(targets), bucket_for(gate.window, max_interval))

    @staticmethod
    def _reading_base(gate: Gate) -> dict:
        return dict(
            name=gate.name,
            unit=gate.display_unit,
            source=gate.source,
            bands=gate.bands,
            window=format_duration(gate.window) if gate.source == "probe" else format_duration(gate.interval),
        )

    def _probe_reading(self, gate: Gate, now: datetime, agg: ProbeAggregate) -> GateReading:
        base = self._reading_base(gate)
        _, max_interval = self._gate_targets(gate)
        bucket = bucket_for(gate.window, max_interval)
        stale = agg.last_at is None or now - agg.last_at > 2 * max_interval
        detail = agg.detail
        if stale and agg.last_at is not None:
            detail = f"last probe {duration_text(now - agg.last_at)} ago"
        cov = None
        band = judge(agg.value, gate.bands, stale=stale)
        if gate.probe_metric != "checks_passing":  # "healthy now" has no window to cover
            cov = coverage(gate.window, bucket, agg.buckets, agg.samples)
            if cov.fraction < 1 and agg.value is not None:
                detail = f"{detail}; covers {describe(cov)}"
            if agg.value is not None and not enough(cov, *self.config.min_coverage(gate)):
                band = Band.UNKNOWN  # judged from too little of its window: never green
                detail = f"too little data: {describe(cov)}"
        return GateReading(
            **base,
            target=gate.target or "all",
            value=agg.value,
            band=band,
            detail=detail,
            stale=stale and agg.last_at is not None,
            observed_at=agg.last_at,
            coverage=cov,
        )

    def _query_reading(self, gate: Gate, now: datetime) -> GateReading:
        """A PromQL or SQL gate: its query loop's last answer."""
        base = self._reading_base(gate)
        q = self.last_answer(gate.name)
        stale = q.observed_at is None or now - q.observed_at > 2 * gate.interval
        detail = q.error or ("no data" if q.value is None else "")
        if stale and q.observed_at is not None and not q.error:
            detail = f"last answer {duration_text(now - q.observed_at)} ago"
        return GateReading(
            **base,
            target=gate.source,
            value=q.value,
            band=judge(q.value, gate.bands, stale=stale or bool(q.error)),
            detail=detail if q.observed_at or q.error else "waiting for first answer",
            stale=stale and q.observed_at is not None,
            observed_at=q.observed_at,
        )

    def _stale_copy(self, gate: Gate, now: datetime) -> GateReading:
        last = self.state.last_readings.get(gate.name)
        if last is None:
            return GateReading(
                name=gate.name, value=None, band=Band.UNKNOWN, unit=gate.display_unit, source=gate.source,
                bands=gate.bands, detail="database unavailable",
            )
        return last.model_copy(update={"band": Band.UNKNOWN, "stale": True, "detail": "database unavailable"})

    async def _record(self, now: datetime, readings, rollout) -> None:
        """What is due to be recorded, and auto-rollback (console/engine/auto_rollback.py)."""
        if await self.auto.after_evaluation(now, readings, rollout, leader=self.leading()):
            self._remember(now, readings)

    def _remember(self, now: datetime, readings) -> None:
        for r in readings:
            self.state.history.setdefault(r.name, deque(maxlen=240)).append((now, r.value))
        self._history_cache = None

    def _history_view(self) -> dict[str, tuple]:
        """The trends as the snapshot carries them; rebuilt only when one grew."""
        if self._history_cache is None:
            self._history_cache = {name: tuple(v for _, v in pts) for name, pts in self.state.history.items()}
            self._history_at = {name: tuple(at for at, _ in pts) for name, pts in self.state.history.items()}
        return self._history_cache

    async def _refresh_clean_days(self, now: datetime) -> None:
        if self.state.clean_days_at and now - self.state.clean_days_at < timedelta(minutes=1):
            return
        bi = self.config.burn_in
        if bi is None:  # no burn-in configured: no days to count
            return
        threshold = 99.98
        for g in self.config.gates:
            if g.probe_metric == "uptime":
                threshold = g.bands.green.threshold
                break
        days = await self.store.daily_uptime(bi.start)
        self.state.clean_days = count_clean_days(days, threshold)
        self.state.clean_days_at = now

    def _burn_in_view(self) -> BurnInView | None:
        bi = self.config.burn_in
        if bi is None:
            return None
        return BurnInView(start=bi.start, end=bi.end, review=bi.review, clean_days=self.state.clean_days, days=bi.days)


def _short(e: BaseException) -> str:
    return one_line(e, 160)
