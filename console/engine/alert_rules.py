"""The console's own alert rules, as the leader applies them: read what they judge
(the last snapshot's gates, the last hour's error rate, the 5xx of the last minute,
the configured cost and events queries), let checks.alert_rules decide, and write
the alerts that fire and resolve the ones that stopped. The engine's alert-rules
loop calls `apply`; the alerts reach the screen through the next evaluation's read.

The snapshot a pass is handed may be older than the probe history it writes over: the
demo's `n` empties the alerts and seeds a clean week while the engine's newest snapshot
is still the fault's, and a pass that began before the reseed waits on its locks and
writes after it. Each pass reads the rollups' epoch after its other reads; when it has
moved since the last pass, the history was rewritten, and from then on a gate is judged
only from a reading made after that moment (checks.alert_rules.judge_gates)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from checks.alert_rules import RuleAlert, burst_alert, cost_alert, error_rate_alert, event_alert, judge_gates
from checks.models import Snapshot
from checks.sql_result import event_rows

from ..config import Config
from ..store.db import Store
from ..store.sandbox import QueryRefused
from .gate_reads import ProbeGateReader, ProbeGateSpec


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class AlertRules:
    def __init__(self, config: Config, store: Store, clock: Callable[[], datetime] = _utcnow):
        self.config = config
        self.store = store
        # The clock the snapshots and the query answers are stamped with (the engine's).
        self.clock = clock
        # The rules read other windows than the gates, at their own pace: a reader of
        # their own, so neither evicts what the evaluation's reader keeps.
        self.reader = ProbeGateReader()
        self._epoch: int | None = None  # the rollups' epoch the last pass read
        self.rewritten_at: datetime | None = None  # when a pass last found it moved

    async def apply(self, snapshot: Snapshot | None) -> None:
        """Read what the rules judge, let checks.alert_rules decide, write the alerts."""
        cfg = self.config.alerts
        firing: list[RuleAlert | None] = []
        targets = [t.name for t in self.config.targets]
        if targets:
            hour = ProbeGateSpec("error_rate", timedelta(hours=1), tuple(targets))
            agg = (await self.reader.read(self.store, [hour]))[0]
            firing.append(error_rate_alert(agg.value, agg.detail, cfg.error_rate_1h))
            firing.append(burst_alert(await self.store.count_5xx(timedelta(minutes=1)), cfg.max_5xx_per_minute))
        # A refused configured query (cost_query, events_query) is reported, and must
        # not stop the other rules: it is collected and raised at the end.
        refused: list[str] = []
        timeout = self.config.database.statement_timeout
        if cfg.cost_query:
            try:
                firing.append(cost_alert(await self.store.sandbox.value(cfg.cost_query, timeout), cfg.cost_budget))
            except QueryRefused as e:
                refused.append(f"cost_query: {e}")
        # After the reads above: a reseed they waited on has committed, and is seen here.
        await self._note_rewrite()
        gates, held = judge_gates(snapshot.gates, snapshot.at, self.rewritten_at) if snapshot else ([], [])
        firing = [*gates, *(f for f in firing if f is not None)]
        for f in firing:
            await self.store.raise_alert(f.fingerprint, "rule", f.severity, f.name, f.summary)
        await self.store.resolve_missing("rule", [f.fingerprint for f in firing] + held)
        if cfg.events_query:
            try:
                events = event_rows(await self.store.sandbox.rows(cfg.events_query, timeout))
            except ValueError as e:  # QueryRefused, or a row of the wrong shape
                refused.append(f"events_query: {e}")
            else:
                keep = []
                for ev in events:
                    f = event_alert(ev)
                    keep.append(f.fingerprint)
                    await self.store.raise_alert(f.fingerprint, "events", f.severity, f.name, f.summary, ev.at)
                await self.store.resolve_missing("events", keep)
        if refused:
            raise ValueError("; ".join(refused))

    async def _note_rewrite(self) -> None:
        """Read the rollups' epoch; if it moved since the last pass, the probe history
        was rewritten since then, and no reading made before now is judged."""
        epoch = await self.store.rollup_epoch()
        if self._epoch is not None and epoch != self._epoch:
            self.rewritten_at = self.clock()
        self._epoch = epoch
