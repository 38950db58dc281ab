"""The one screen of the console: verdict, gates, rollout, burn-in, alerts.

Three panels take focus, in the order an operator reads them at 3 a.m.: the gates,
the alerts, the rollout (`tab`, `shift+tab` back). ↑/↓ select in the focused panel;
Enter opens the selected gate's or alert's detail (the rollout's: its history);
`/` filters the alerts.

The App's zone (`z`) and the chart's window (`1` `2` `3`, `w`) and its reads are
handed to the widgets here; the widgets keep no zone or window of their own."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Input

from checks.models import Snapshot
from widgets.alert_feed import NONE_KEY, AlertFeed, AlertFilter
from widgets.burn_in_panel import BurnInPanel
from widgets.gate_chart import GateChart
from widgets.gates_table import GatesTable
from widgets.rollout_panel import RolloutPanel
from widgets.literal import literal
from widgets.verdict_banner import VerdictBanner
from widgets.key_footer import KeyFooter


class DashboardScreen(Screen):
    CSS_PATH = "dashboard.tcss"
    # The layout follows the terminal's size: dashboard.tcss says what each class changes.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-medium"), (150, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]
    FOCUS_ORDER = ("#gates", "#alerts", "#rollout")  # not the DOM's order (rollout sits above the alerts)
    BINDINGS = [
        Binding("tab", "cycle(1)", "Next panel", tooltip="Move to the next panel: gates → alerts → rollout",
                show=False, id="next_panel"),
        Binding("shift+tab", "cycle(-1)", "Previous panel", tooltip="Move to the previous panel",
                show=False, id="previous_panel"),
        Binding("enter", "open", "Detail", tooltip="Open the selected gate or alert (on the rollout: its history)",
                show=False, id="detail"),
        Binding("slash", "filter", "Filter", key_display="/",
                tooltip="Filter the alerts by text or severity (Enter keeps it, Esc clears it)", id="filter"),
        Binding("escape", "clear_filter", "Clear filter", tooltip="Clear the alerts' filter", show=False,
                id="clear_filter"),
    ]

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
        yield AlertFilter(placeholder="filter the alerts: text or severity (Enter keeps it, Esc clears it)",
                          id="alert-filter")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#gates").border_title = "Gates"
        self.query_one("#chart").border_title = "History"
        self.query_one("#rollout").border_title = "Rollout"
        self.query_one("#burn-in").border_title = "Burn-in"
        self._alerts_title: Text | None = None
        self._title_alerts()
        self.query_one(AlertFeed).show_loading()
        self.query_one(RolloutPanel).can_focus = True  # so tab reaches it, and Enter opens its history
        self._advance_state: object = None
        self.query_one(VerdictBanner).read_only = self.app.config.console.read_only
        self.watch(self.app, "zone", self._rezone, init=True)
        self.watch(self.app, "snapshot", self.show, init=True)
        self.watch(self.app, "chart_window", self._chart_changed, init=False)
        self.watch(self.app, "chart", self._chart_changed, init=False)
        self.watch(self.app, "engine_status", self._starting, init=True)
        self.watch(self.app, "stale_for", self._stale_for, init=False)

    def _rezone(self, zone) -> None:
        """Every time on screen in the App's zone (`z` flips it to UTC and back)."""
        with self.app.batch_update():
            self.query_one(VerdictBanner).zone = zone
            self.query_one(RolloutPanel).zone = zone
            self.query_one(BurnInPanel).zone = zone
            self.query_one(AlertFeed).set_zone(zone)
            self._chart_changed()

    def _chart_changed(self, _value=None) -> None:
        if self.app.snapshot is not None:
            self._show_chart(self.app.snapshot)

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
            self._title_alerts()
            self._advance_changed()
            stale = "" if snap.database.ok else " STALE "
            green = stale or f"{sum(g.band.value == 'green' for g in snap.gates)}/{len(snap.gates)} green"
            for pid, subtitle in (("#rollout", stale), ("#burn-in", stale), ("#alerts", stale), ("#gates", green)):
                panel = self.query_one(pid)
                if panel.border_subtitle != subtitle:  # setting one repaints the whole panel, even unchanged
                    panel.border_subtitle = subtitle
                panel.set_class(not snap.database.ok, "stale")

    def _show_chart(self, snap: Snapshot) -> None:
        name = self.query_one(GatesTable).selected_gate
        gate = next((g for g in snap.gates if g.name == name), None)
        self.app.want_chart(name)  # the App reads the longer windows and the rollout's actions
        app = self.app
        self.query_one(GateChart).show(gate, window=app.chart_window, end=snap.at, zone=app.zone,
                                       values=snap.history.get(name, ()) if name else (),
                                       times=snap.history_at.get(name, ()) if name else (), view=app.chart)

    def on_data_table_row_highlighted(self, event) -> None:
        if event.data_table.id == "gates" and self.app.snapshot is not None:
            self._show_chart(self.app.snapshot)

    # -- focus and detail -------------------------------------------------------

    def _advance_changed(self) -> None:
        """Advance is greyed out while it would be refused, and whether it would be
        turns with the soak clock as well as with the snapshot: the bindings are
        refreshed (the footer recomposed) only when that answer changes."""
        state = self.app.advance_state()
        if state != self._advance_state:
            self._advance_state = state
            self.app.refresh_bindings()

    def action_cycle(self, step: int) -> None:
        panels = [self.query_one(pid) for pid in self.FOCUS_ORDER]
        panels = [p for p in panels if p.display and p.can_focus]
        if not panels:
            return
        here = next((i for i, p in enumerate(panels) if p.has_focus_within), -step if step > 0 else 0)
        panels[(here + step) % len(panels)].focus()

    def action_open(self) -> None:
        """Enter where no table took it: on the rollout, its history."""
        if self.query_one(RolloutPanel).has_focus:
            self.app.action_history()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if event.data_table.id == "gates" and key is not None:
            self.app.action_gate_detail(key)
        elif event.data_table.id == "alerts" and key not in (None, NONE_KEY):
            alert = self.query_one(AlertFeed).selected
            if alert is not None:
                self.app.action_alert_detail(alert.fingerprint)

    def action_filter(self) -> None:
        box = self.query_one(AlertFilter)
        box.add_class("-active")
        box.focus()

    def check_action(self, action: str, parameters) -> bool | None:
        if action == "clear_filter":
            return bool(self.query_one(AlertFeed).query_text) or self.query_one(AlertFilter).has_focus
        return True

    def action_clear_filter(self) -> None:
        box = self.query_one(AlertFilter)
        box.value = ""  # Input.Changed clears the feed's filter
        self.query_one(AlertFeed).set_filter("")
        box.remove_class("-active")
        self._title_alerts()
        self.query_one(AlertFeed).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "alert-filter":
            self.query_one(AlertFeed).set_filter(event.value)
            self._title_alerts()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "alert-filter":
            if not event.value.strip():
                self.action_clear_filter()
                return
            self.query_one(AlertFeed).focus()  # the filter stays, shown, until Esc

    def _title_alerts(self) -> None:
        feed = self.query_one(AlertFeed)
        if feed.query_text:
            # A Text: a str title is parsed as markup, and the filter is typed text.
            title = literal(f"Alerts matching “{feed.query_text}” ({feed.shown_count} of {feed.total}; Esc clears)",
                            limit=80)
        else:
            title = Text("Alerts (open first, newest first)")
        if title != self._alerts_title:  # a new title repaints the panel: only when it changed
            self._alerts_title = title
            feed.border_title = title
