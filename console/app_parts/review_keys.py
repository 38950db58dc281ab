"""The go/no-go review (`v`): the criteria with their marks (kept by the App while the
console runs), each criterion's evidence read by a worker, and the decision recorded
through the RolloutController like any action."""
from __future__ import annotations

from datetime import datetime, timezone

from checks.models import ChartView, CriterionEvidence, EvidenceTable
from checks.times import CHART_WINDOWS

from ..screens.dialogs.message import MessageDialog
from ..screens.dialogs.review_decision import ReviewDecisionDialog
from ..screens.review import FAILED_SHOWN, ReviewScreen
from ..secrets import mask_text


class ReviewKeysMixin:
    def action_review(self) -> None:
        from checks import review

        snap = self.snapshot
        if isinstance(self.screen, ReviewScreen):
            return
        if snap is None or not snap.gates:
            self.notify("the gates are not evaluated yet", severity="warning")
            return
        names = self.config.review_criteria
        if [m.gate for m in self.review_marks] != list(names):
            self.review_marks = review.criteria(snap.gates, names)
        self.push_screen(ReviewScreen(review.refresh(self.review_marks, snap.gates), snap))

    def load_evidence(self, screen: ReviewScreen, gate: str) -> None:
        """Enter on a criterion: its evidence, read by a worker of the App."""
        self.run_worker(self._load_evidence(screen, gate), name="review evidence", group="detail",
                        exit_on_error=False)

    async def _load_evidence(self, screen: ReviewScreen, gate: str) -> None:
        from ..store.db import StoreUnavailable
        from ..store.sandbox import QueryRefused

        if self.store is None:
            screen.failed("the database is not open yet")
            return
        span, bucket = CHART_WINDOWS["7d"]
        end = self.clock()
        # On the hour: the failed probes are counted from the hourly rollup, which keeps
        # them past the raw rows' retention, and the period is then the same for both.
        start = _on_the_hour(end - span)
        spec = next((g for g in self.config.gates if g.name == gate), None)
        try:
            points = tuple(await self.store.gate_trend(gate, start, bucket))
            actions = tuple(await self.store.rollout_history(self.config.rollout.flag, since=start))
            failed, failed_total = (), None
            if spec is not None and spec.source == "probe":
                targets = (spec.target,) if spec.target else tuple(t.name for t in self.config.targets)
                read = await self.store.failed_probes(targets, start, FAILED_SHOWN)
                failed, failed_total = tuple(read.probes), read.total
        except StoreUnavailable as e:
            screen.failed(f"database unavailable: {e}")
            return
        table = None
        if spec is not None and spec.evidence:
            try:
                columns, rows, more = await self.store.sandbox.table(spec.evidence, spec.timeout)
                table = EvidenceTable(columns=columns, rows=tuple(tuple(_cell(v) for v in r) for r in rows), more=more)
            except QueryRefused as e:
                table = EvidenceTable(error=mask_text(str(e)))
        screen.show_evidence(CriterionEvidence(
            gate=gate, since=start, actions=actions, failed_probes=failed, failed_total=failed_total, table=table,
            chart=ChartView(gate=gate, window="7d", start=start, end=end, points=points, events=actions)))

    def open_review_decision(self, screen: ReviewScreen) -> None:
        snap = self.snapshot
        if self.config.console.read_only:
            self.notify("this console is read-only: it records no decision", severity="warning")
            return
        if snap is None or snap.rollout is None or self.engine is None:
            self.notify("the rollout state is not loaded yet", severity="warning")
            return
        self.push_screen(ReviewDecisionDialog(screen.marks, snap), self._review_decided)

    def _review_decided(self, decision) -> None:
        if decision is None:
            self.notify("cancelled: nothing recorded")
            return
        self.run_worker(self._record_review(decision), name="review", group="actions", exit_on_error=False)

    async def _record_review(self, decision) -> None:
        from ..store.db import StoreUnavailable

        snap = self.snapshot
        if self.refused_as_stale("a decision needs current values", "Nothing was recorded."):
            return
        try:
            result = await self.engine.controller.record_review(
                decision, operator=self.config.operator, verdict=snap.verdict,
                gates={g.name: g.value for g in snap.gates})
        except StoreUnavailable as e:
            self.push_screen(MessageDialog("Refused: database unavailable", f"{e}. Nothing was recorded."))
            return
        self.last_action = result
        if result.outcome == "refused":
            self.push_screen(MessageDialog("Refused", result.message))
            return
        self.review_marks = ()
        if isinstance(self.screen, ReviewScreen):
            self.pop_screen()
        self.notify(result.message, title="decision recorded")
        self.action_refresh()


def _cell(value) -> str | datetime:
    """An evidence cell as the screen takes it: a time stays a time, for the screen to
    write in the console's zone (and again when `z` flips it); anything else as text,
    shown literally."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value
    return str(value)


def _on_the_hour(at: datetime) -> datetime:
    """The UTC hour `at` falls in (the hourly rollup's buckets)."""
    return at.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
