"""Auto-rollback's orchestration: what the leader records, what it reads back, and
when it rolls back.

Evaluations are recorded every `record_every` (the trends, the report) and, while a
gate auto-rollback watches is red, at every evaluation: a breach run counts
evaluations at the refresh rate, so `sustain = "10s"` rolls back in about ten
seconds, not after three 15-second records. The run lives in the database, so a new
leader carries it on. The judgement is checks.breach.assess; this module reads,
asks it, and acts through the one RolloutController."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from checks.breach import assess
from checks.models import AutoRollbackView, Band, GateReading, RolloutView
from checks.notices import AUTO_ROLLBACK_PREFIX
from checks.verdict import format_value
from checks.verdict import reasons as verdict_reasons
from checks.verdict import verdict as decide

from ..durations import format_duration

log = logging.getLogger("gonogo.engine")


class AutoRollback:
    def __init__(self, config, store, controller, *, record_every: timedelta):
        self.config = config
        self.store = store
        self.controller = controller
        self.record_every = record_every
        self.last_recorded: datetime | None = None
        self.watched_red = False  # a watched gate was red at the last evaluation
        self.recorded_bands: dict[str, Band] = {}  # each gate's band in its newest record
        self.view = self._view()

    async def after_evaluation(self, now: datetime, readings: Sequence[GateReading], rollout: RolloutView | None,
                               *, leader: bool) -> bool:
        """Record what is due, judge the watched gates, and roll back when a breach is
        sustained (leader only; followers keep the view). True when this evaluation
        was a periodic record (the engine keeps it for the trends)."""
        ar = self.config.auto_rollback
        periodic = self.last_recorded is None or now - self.last_recorded >= self.record_every
        watched = [r for r in readings if r.name in ar.gates] if ar.enabled else []
        red_now = any(r.band is Band.RED for r in watched)
        breaching = red_now or self.watched_red  # and the first evaluation after, which ends the run
        # A gate whose band moved is recorded at once, so the record (the report, the
        # charts, the review) is never a period behind what the screens show.
        moved = [r for r in readings if self.recorded_bands.get(r.name) is not r.band]
        if not (periodic or breaching or moved):
            return False
        if leader:
            due = readings if periodic else [r for r in readings if r in watched or r in moved]
            await self.store.record_evaluations(now, due)
            self.recorded_bands.update((r.name, r.band) for r in due)
        self.watched_red = red_now
        if periodic:
            self.last_recorded = now
        if ar.enabled and rollout is not None:
            await self._judge(now, rollout, readings, leader=leader)
        return periodic

    async def _judge(self, now: datetime, rollout: RolloutView, readings: Sequence[GateReading], *,
                     leader: bool) -> None:
        """Roll back, without a human, only on a breach sustained over the whole window
        and over `consecutive` evaluations in a row (checks.breach)."""
        ar = self.config.auto_rollback
        series = await self.store.gate_series(now - ar.sustain - 4 * self.record_every, ar.gates)
        # Longer than this between two records and nobody saw that time: the run
        # breaks. Records come every refresh during a breach; a change of leader
        # takes a few seconds, which must not break it.
        gap = max(3 * self.config.console.refresh, self.record_every)
        seen = assess(series, ar.gates, now=now, sustain=ar.sustain, consecutive=ar.consecutive, max_gap=gap)
        self.view = self._view(seen.runs)
        if seen.firing is None or not leader:  # only the leader acts; followers only show
            return
        if rollout.state in ("idle", "rolled_back") or rollout.percentage == self.config.rollout.steps[0]:
            return
        name, run = seen.firing, seen.firing_values
        gate = self.config.gate(name)
        reason = (
            f"auto-rollback: {name} red ({gate.bands.red}) sustained for {format_duration(ar.sustain)}"
            f" over {len(run)} evaluations; last {format_value(run[-1] if run else None, gate.display_unit, gate.bands)}"
        )
        result = await self.controller.act(
            "rollback",
            operator="gonogo auto-rollback",
            reason=reason,
            verdict=decide(r.band for r in readings),
            verdict_why="; ".join(verdict_reasons(readings)),
            gates={r.name: r.value for r in readings},
            automatic=True,
            expect_version=rollout.version,
        )
        log.warning("%s: %s", reason, result.message)
        if result.outcome != "done":
            return  # refused (the rollout changed meanwhile): judged again at the next evaluation
        # Every console's banner says AUTO-ROLLED BACK until someone acknowledges this
        # alert (checks.notices). The last one is resolved first, so this rollback is a
        # new episode (new first_at, not acknowledged) even if the last was acked but
        # never resolved: otherwise a second auto-rollback would stay silent.
        fingerprint = f"{AUTO_ROLLBACK_PREFIX}{self.config.rollout.flag}"
        await self.store.resolve_alerts([fingerprint])
        await self.store.raise_alert(fingerprint, "rollout", "critical", "auto-rollback",
                                     f"{result.message} ({reason})")

    def _view(self, runs: tuple = ()) -> AutoRollbackView:
        ar = self.config.auto_rollback
        return AutoRollbackView(enabled=ar.enabled, gates=tuple(ar.gates), sustain_seconds=ar.sustain.total_seconds(),
                                consecutive=ar.consecutive, breaching=runs)
