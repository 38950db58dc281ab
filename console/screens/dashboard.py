"""The one screen of the console: verdict, gates, rollout, burn-in, alerts."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from checks.models import Snapshot
from widgets.alert_feed import AlertFeed
from widgets.burn_in_panel import BurnInPanel
from widgets.gate_chart import GateChart
from widgets.gates_table import GatesTable
from widgets.rollout_panel import RolloutPanel
from widgets.verdict_banner import VerdictBanner


class DashboardScreen(Screen):
    CSS_PATH = "dashboard.tcss"
    BINDINGS: list[Binding] = []  # tab / shift+tab (the App's) move between the gates and the alerts

    def compose(self) -> ComposeResult:
        yield VerdictBanner(id="banner")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield GatesTable(id="gates")
                yield GateChart(id="chart")
            with Vertical(id="right"):
                yield RolloutPanel(self.app.clock, id="rollout")
                yield BurnInPanel(self.app.clock, id="burn-in")
                yield AlertFeed(id="alerts")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#gates").border_title = "Gates"
        self.query_one("#chart").border_title = "History"
        self.query_one("#rollout").border_title = "Rollout"
        self.query_one("#burn-in").border_title = "Burn-in"
        self.query_one("#alerts").border_title = "Alerts (open first, newest first)"
        self.query_one(AlertFeed).loading()
        self.query_one(VerdictBanner).read_only = self.app.config.console.read_only
        self.watch(self.app, "snapshot", self.show, init=True)
        self.watch(self.app, "engine_status", self._starting, init=True)
        self.watch(self.app, "stale_for", self._stale_for, init=False)

    def _stale_for(self, seconds: float) -> None:
        self.query_one(VerdictBanner).stale_for = seconds

    def _starting(self, text: str) -> None:
        self.query_one(VerdictBanner).starting = text

    def show(self, snap: Snapshot | None) -> None:
        if snap is None:
            return
        with self.app.batch_update():
            self.query_one(VerdictBanner).snapshot = snap
            gates = self.query_one(GatesTable)
            gates.show(snap.gates, snap.history)
            self._show_chart(snap)
            rollout = self.query_one(RolloutPanel)
            rollout.view = snap.rollout
            rollout.auto = snap.auto_rollback
            burn_in = self.query_one(BurnInPanel)
            burn_in.view = snap.burn_in
            burn_in.ticker.tick()  # the countdowns repaint with the snapshot, not half a second apart
            self.query_one(AlertFeed).show(snap.alerts)
            stale = "" if snap.database.ok else " STALE "
            for pid in ("#rollout", "#burn-in", "#alerts"):
                panel = self.query_one(pid)
                panel.border_subtitle = stale
                panel.set_class(not snap.database.ok, "stale")
            gates.border_subtitle = stale or (
                f"{sum(g.band.value == 'green' for g in snap.gates)}/{len(snap.gates)} green"
            )
            gates.set_class(not snap.database.ok, "stale")

    def _show_chart(self, snap: Snapshot) -> None:
        name = self.query_one(GatesTable).selected_gate
        gate = next((g for g in snap.gates if g.name == name), None)
        self.query_one(GateChart).show(gate, snap.history.get(name, ()) if name else ())

    def on_data_table_row_highlighted(self, event) -> None:
        if event.data_table.id == "gates" and self.app.snapshot is not None:
            self._show_chart(self.app.snapshot)
