"""The detail screens' reads: the audit trail, a gate's recent probes, an alert's
detail. The screen is pushed at once and the read runs in a worker of the App
(popping the screen does not cancel it; the answer goes to a screen no one sees)."""
from __future__ import annotations

from ..screens.alert_detail import AlertDetailScreen
from ..screens.gate_detail import GateDetailScreen
from ..screens.history import HistoryScreen
from ..secrets import mask_text


class DetailReadsMixin:
    def action_history(self) -> None:
        if self.store is None:
            self.notify("the database is not open yet", severity="warning")
            return
        self.push_screen(HistoryScreen())

    def load_history(self, screen: "HistoryScreen") -> None:
        """Called by the history screen once mounted; the App does the I/O."""
        self.run_worker(self._load_history(screen), name="history", group="history", exit_on_error=False)

    async def _load_history(self, screen: "HistoryScreen") -> None:
        from ..store.db import StoreUnavailable

        try:
            history = await self.store.rollout_history(self.config.rollout.flag, reviews=True)
        except StoreUnavailable as e:
            screen.failed(str(e))
            return
        screen.show(self.config.rollout.flag, history)

    def action_gate_detail(self, name: str) -> None:
        """Enter on a gate: its detail screen at once, its targets' recent probes read
        by a worker of the App (popping the screen does not cancel it; the answer
        goes to a screen no one sees)."""
        snap = self.snapshot
        gate = next((g for g in snap.gates if g.name == name), None) if snap is not None else None
        if gate is None:
            return
        spec = next((g for g in self.config.gates if g.name == name), None)
        definition: list[tuple[str, str]] = []
        targets: tuple[str, ...] = ()
        if spec is not None:
            if spec.source == "probe":
                definition.append(("metric", spec.metric or spec.name))
                targets = (spec.target,) if spec.target else tuple(t.name for t in self.config.targets)
            else:
                definition.append(("query", mask_text(spec.query)))
                definition.append(("every", f"{spec.interval.total_seconds():g} s, timeout {spec.timeout.total_seconds():g} s"))
        screen = GateDetailScreen(gate, definition=definition, targets=targets)
        self.push_screen(screen)
        if targets:
            self.run_worker(self._load_probes(screen), name="gate detail", group="detail", exit_on_error=False)

    async def _load_probes(self, screen: GateDetailScreen) -> None:
        from ..store.db import StoreUnavailable

        if self.store is None:
            screen.failed("the database is not open yet")
            return
        try:
            results = await self.store.recent_probes(screen.targets, screen.per_target)
        except StoreUnavailable as e:
            screen.failed(f"database unavailable: {e}")
            return
        screen.show_probes(results)  # a screen already closed keeps it, unseen

    def action_alert_detail(self, fingerprint: str) -> None:
        snap = self.snapshot
        alert = next((a for a in snap.alerts if a.fingerprint == fingerprint), None) if snap is not None else None
        if alert is None:
            return
        screen = AlertDetailScreen(alert)
        self.push_screen(screen)
        self.run_worker(self._load_alert(screen), name="alert detail", group="detail", exit_on_error=False)

    async def _load_alert(self, screen: AlertDetailScreen) -> None:
        from ..store.db import StoreUnavailable

        if self.store is None:
            screen.failed("the database is not open yet")
            return
        try:
            detail = await self.store.alert_detail(screen.alert.fingerprint)
        except StoreUnavailable as e:
            screen.failed(f"database unavailable: {e}")
            return
        screen.show(detail)  # a screen already closed keeps it, unseen
