"""The keys that act: advance, hold/resume, rollback, retry the actuator, and ack an
alert. Each opens its dialog, and the action runs in a worker of the App through the
RolloutController, which re-reads the state first (the world may have changed while
the dialog was open)."""
from __future__ import annotations

from checks.models import ActionRequest, RolloutAction, Verdict

from ..rollout import preview
from ..screens.alert_detail import AlertDetailScreen
from ..screens.dialogs.action import ActionDialog
from ..screens.dialogs.message import MessageDialog

SEVERITY = {Verdict.GO: 0, Verdict.HOLD: 1, Verdict.ROLLBACK: 2}


class RolloutKeysMixin:
    def _open_action(self, action: RolloutAction) -> None:
        snap = self.snapshot
        if self.config.console.read_only:
            self.notify("this console is read-only", severity="warning")
            return
        if snap is None or snap.rollout is None or self.engine is None:
            self.notify("the rollout state is not loaded yet", severity="warning")
            return
        if not snap.database.ok:
            self.push_screen(MessageDialog("Refused", f"The database is unavailable ({snap.database.reason}). "
                                           "No action is queued; try again when it is back."))
            return
        plan = preview(action, snap, self.config, self.clock())
        self.push_screen(ActionDialog(action, plan, snap), self._confirmed)

    def _confirmed(self, request: ActionRequest | None) -> None:
        if request is None:
            self.notify("cancelled: nothing changed")
            return
        self.run_worker(self._act(request), name=f"action:{request.action}", group="actions", exit_on_error=False)

    async def _act(self, request: ActionRequest) -> None:
        from ..store.db import StoreUnavailable

        snap = self.snapshot
        if request.override and SEVERITY[snap.verdict] > SEVERITY[request.seen_verdict]:
            self.push_screen(MessageDialog(
                "Refused: the verdict changed",
                f"You confirmed an override against {request.seen_verdict.value}; it is {snap.verdict.value} now "
                f"({'; '.join(snap.reasons[:3])}). Nothing was changed. Look again, then decide again."))
            return
        if self.refused_as_stale("an action needs a current verdict", "Nothing was changed or queued."):
            return
        try:
            # The controller re-reads the state under a lock: the world may have changed
            # while the dialog was open, and then the version the operator saw is refused.
            result = await self.engine.controller.act(
                request.action, operator=self.config.operator, reason=request.reason, verdict=snap.verdict,
                verdict_why="; ".join(snap.reasons), gates={g.name: g.value for g in snap.gates},
                expect_version=request.seen_version, override=request.override,
            )
        except StoreUnavailable as e:
            self.push_screen(MessageDialog("Refused: database unavailable", f"{e}. Nothing was changed or queued."))
            return
        self.last_action = result
        if result.outcome == "refused":
            self.push_screen(MessageDialog("Refused", result.message))
        elif result.actuation == "failed":
            self.notify(result.message + " — press R to retry", title="NOT APPLIED", severity="error", timeout=30)
        else:
            self.notify(result.message, title="done")
        self.action_refresh()

    def action_advance(self) -> None:
        self._open_action("advance")

    def action_advance_override(self) -> None:
        self._open_action("advance")  # the dialog sees the refusal and asks for the override

    def action_hold_resume(self) -> None:
        snap = self.snapshot
        held = snap is not None and snap.rollout is not None and snap.rollout.state == "held"
        self._open_action("resume" if held else "hold")

    def action_rollback(self) -> None:
        self._open_action("rollback")

    def action_retry(self) -> None:
        if self.engine is None:
            return
        self.run_worker(self._retry(), name="retry", group="actions", exit_on_error=False)

    async def _retry(self) -> None:
        from ..store.db import StoreUnavailable

        try:
            result = await self.engine.controller.retry_actuation()
        except StoreUnavailable as e:
            self.notify(f"not retried: {e}", title="database unavailable", severity="error")
            return
        ok = result.actuation == "ok"
        self.notify(result.message if ok else f"still not applied: {result.actuation_error}",
                    title="re-applied" if ok else "NOT APPLIED", severity="information" if ok else "error")
        self.action_refresh()

    def action_ack(self) -> None:
        from widgets.alert_feed import AlertFeed

        snap = self.snapshot
        if snap is None or self.store is None:
            self.notify("no alerts loaded yet", severity="warning")
            return
        # The alert the operator is looking at: the one on the detail screen, or the one
        # selected in the focused feed; otherwise the newest open one.
        alert = None
        if isinstance(self.screen, AlertDetailScreen):
            alert = self.screen.alert
        else:
            feed = next(iter(self.screen.query(AlertFeed)), None)
            if feed is not None and feed.has_focus:
                alert = feed.selected
        if alert is not None and alert.acked:
            self.notify(f"already acknowledged: {alert.name}")
            return
        if alert is None:
            alert = next((a for a in snap.alerts if not a.acked), None)
        if alert is None:
            self.notify("no unacknowledged alert")
            return
        self.run_worker(self._ack(alert.fingerprint, alert.name), name="ack", group="actions", exit_on_error=False)

    async def _ack(self, fingerprint: str, name: str) -> None:
        from ..store.db import StoreUnavailable

        try:
            await self.store.ack_alert(fingerprint, self.config.operator)
        except StoreUnavailable as e:
            self.notify(f"not acknowledged: {e}", title="database unavailable", severity="error")
            return
        self.notify(f"acknowledged: {name}")
        self.action_refresh()
