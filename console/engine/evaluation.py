"""One evaluation: the store read (every probe gate in one statement, the rollout,
the alerts, the clean days), each gate judged, recorded, and one frozen Snapshot
handed to whoever listens. The loops that feed it (probes, queries, Alertmanager,
leadership, LISTEN) are in core.py; Engine is both."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg

from checks.bands import judge
from checks.burn_in import count_clean_days
from checks.coverage import bucket_for, coverage, describe, enough
from checks.models import Band, BurnInView, GateReading, Snapshot, SourceHealth
from checks.verdict import reasons as verdict_reasons
from checks.verdict import verdict as decide

from ..config import Gate
from ..durations import format_duration
from ..secrets import one_line
from ..store.db import StoreUnavailable
from .gate_reads import ProbeAggregate, ProbeGateSpec


@dataclass
class QueryResult:
    """The last answer of a PromQL or SQL gate."""

    value: float | None = None
    error: str = ""
    observed_at: datetime | None = None  # last time the source answered (with or without a number)


@dataclass
class EngineState:
    query_results: dict[str, QueryResult] = field(default_factory=dict)
    history: dict[str, deque] = field(default_factory=dict)
    last_readings: dict[str, GateReading] = field(default_factory=dict)
    database: SourceHealth = field(default_factory=lambda: SourceHealth(name="database", ok=True))
    sources: dict[str, SourceHealth] = field(default_factory=dict)
    clean_days: int = 0
    clean_days_at: datetime | None = None


class Evaluation:
    """The evaluation half of the Engine (console/engine/core.py has the loops)."""

    async def evaluate(self) -> Snapshot:
        try:
            async with self.store.session():
                return await self._evaluate()
        except StoreUnavailable as e:
            # No connection at all: say why at once, with the last values, stale.
            self._db_down(str(e), self.clock())
            return await self._evaluate(db_ok=False)

    async def _evaluate(self, db_ok: bool = True) -> Snapshot:
        now = self.clock()
        if db_ok and self.leader:  # only the leader writes what it probed
            await self._flush_probes()
        probe_gates = [g for g in self.config.gates if g.source == "probe"]
        aggregates: dict[int, ProbeAggregate] = {}
        probe_error = ""
        if db_ok and probe_gates:
            try:  # every probe gate in one round trip
                got = await self.gate_reader.read(self.store, [self._probe_spec(g) for g in probe_gates])
                aggregates = {id(g): a for g, a in zip(probe_gates, got)}
            except StoreUnavailable as e:
                db_ok = False
                self._db_down(str(e), now)
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
                await self._refresh_clean_days(now)
                await self._record(now, readings, rollout)
                self._db_up(now)
            except StoreUnavailable as e:
                db_ok = False
                self._db_down(str(e), now)
            except psycopg.Error as e:  # answered, but with an error: not a state to show as healthy
                db_ok = False
                self._db_down(f"database error: {_short(e)}", now)
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
            sources=tuple(self.state.sources.values()),
            leader=self.leader,
            auto_rollback=self.auto.view,
            history=self._history_view(),
        )
        self.snapshot = snap
        if self.on_snapshot is not None:
            self.on_snapshot(snap)
        return snap

    def _gate_targets(self, gate: Gate) -> tuple[list[str], timedelta]:
        """The targets a probe gate reads, and the longest interval among them (worked
        out once: with 100 targets and 30 gates, every second, it showed in profiles)."""
        got = self._targets_of.get(gate.name)
        if got is None:
            targets = [gate.target] if gate.target else [t.name for t in self.config.targets]
            names = set(targets)
            got = self._targets_of[gate.name] = (targets, max(t.interval for t in self.config.targets if t.name in names))
        return got

    def _probe_spec(self, gate: Gate) -> ProbeGateSpec:
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
            detail = f"last probe {_ago(now - agg.last_at)} ago"
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
        q = self.state.query_results.get(gate.name) or QueryResult()
        stale = q.observed_at is None or now - q.observed_at > 2 * gate.interval
        detail = q.error or ("no data" if q.value is None else "")
        if stale and q.observed_at is not None and not q.error:
            detail = f"last answer {_ago(now - q.observed_at)} ago"
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
        if await self.auto.after_evaluation(now, readings, rollout, leader=self.leader):
            self._remember(now, readings)

    async def _load_history(self) -> None:
        try:
            hist = await self.store.gate_series(self.clock() - timedelta(hours=1))
        except StoreUnavailable as e:
            self._db_down(str(e), self.clock())
            return
        for name, rows in hist.items():
            dq = self.state.history.setdefault(name, deque(maxlen=240))
            dq.extend((at, value) for at, value, _ in rows)
        self._history_cache = None

    def _remember(self, now: datetime, readings) -> None:
        for r in readings:
            self.state.history.setdefault(r.name, deque(maxlen=240)).append((now, r.value))
        self._history_cache = None

    def _history_view(self) -> dict[str, tuple]:
        """The trends as the snapshot carries them; rebuilt only when one grew."""
        if getattr(self, "_history_cache", None) is None:
            self._history_cache = {name: tuple(v for _, v in pts) for name, pts in self.state.history.items()}
        return self._history_cache

    async def _refresh_clean_days(self, now: datetime) -> None:
        if self.state.clean_days_at and now - self.state.clean_days_at < timedelta(minutes=1):
            return
        bi = self.config.burn_in
        threshold = 99.98
        for g in self.config.gates:
            if g.probe_metric == "uptime":
                threshold = g.bands.green.threshold
                break
        days = await self.store.daily_uptime(bi.start)
        self.state.clean_days = count_clean_days(days, threshold)
        self.state.clean_days_at = now

    def _burn_in_view(self) -> BurnInView:
        bi = self.config.burn_in
        return BurnInView(start=bi.start, end=bi.end, review=bi.review, clean_days=self.state.clean_days, days=bi.days)

    def _db_down(self, reason: str, now: datetime) -> None:
        prev = self.state.database
        since = prev.since if not prev.ok and prev.since else now
        sup = self._supervisor()
        if sup is not None and sup.restarting:  # why it is away says more than "connection refused"
            reason = sup.describe()
        self.state.database = SourceHealth(name="database", ok=False, reason=reason, since=since)

    def _db_up(self, now: datetime) -> None:
        if not self.state.database.ok:
            self.state.database = SourceHealth(name="database", ok=True, since=now)


def _ago(td: timedelta) -> str:
    s = int(td.total_seconds())
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    return f"{s // 3600}h"


def _short(e: BaseException) -> str:
    return one_line(e, 160)
