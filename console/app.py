"""The Textual application: owns the engine (never a screen does), the settings,
the snapshot, the global bindings and the routing of errors. The keys' handlers
and the workers they start are mixed in from console/app_parts/, one family a
module. Screens only render."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timezone, tzinfo
from typing import Protocol

from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.worker import Worker, WorkerState

from checks.models import ChartView, RolloutNotice, Snapshot
from checks.notices import NewEvents
from checks.times import CHART_WINDOWS, zone_name
from widgets.literal import visible

from . import __version__
from .config import Config
from .engine import Engine, utcnow
from .screens.dialogs.message import MessageDialog
from .messages import EngineStatus, RolloutChanged, SnapshotUpdated
from .rollout import ORIGIN
from .app_parts.demo_keys import DemoKeysMixin
from .app_parts.keys import KeysMixin
from .app_parts.reads import DetailReadsMixin
from .app_parts.review_keys import ReviewKeysMixin
from .app_parts.rollout_keys import RolloutKeysMixin
from .runtime import open_store
from .screens.dashboard import DashboardScreen
from .secrets import mask_text
from .store.db import Store

log = logging.getLogger("gonogo.app")


class FaultInjector(Protocol):
    """What the demo's simulated service offers the console's demo keys."""

    def inject(self, kind: str | None) -> None: ...
    def describe(self) -> str: ...


CHART_REREAD = 30.0  # seconds between reads of the chart's window (and at once on a new gate, window or action)


class GonogoApp(KeysMixin, RolloutKeysMixin, DetailReadsMixin, ReviewKeysMixin, DemoKeysMixin, App):
    TITLE = "gonogo"
    SUB_TITLE = f"v{__version__}"
    # The one list of keys: the footer shows `description`, the help (`?`) and the
    # command palette show `tooltip`, which says what the key does. Each key once.
    BINDINGS = [
        Binding("q", "quit", "Quit", tooltip="Quit this console (the rollout and other consoles carry on)", id="quit"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="Every key and what it does", id="help"),
        Binding("a", "advance", "Advance",
                tooltip="Advance the rollout one step (asks for a reason); greyed out while it would be refused",
                id="advance"),
        Binding("A", "advance_override", "Override",
                tooltip="Advance although the soak is not over or the verdict is not GO: asks for a reason and the"
                        " flag name, recorded as an override", id="advance_override", show=False),
        Binding("h", "hold_resume", "Hold/resume",
                tooltip="Hold the rollout (pauses the soak clock), or resume a held one; asks for a reason",
                id="hold_resume"),
        Binding("r", "rollback", "Rollback",
                tooltip="Roll back to 0 % at once (asks for a reason and the flag name); always allowed",
                id="rollback"),
        Binding("R", "retry", "Retry apply",
                tooltip="Apply the rollout's state to the system again after the actuator failed", id="retry",
                show=False),
        Binding("H", "history", "History", tooltip="The rollout's audit trail: who did what, when and why",
                id="history"),
        Binding("v", "review", "Review",
                tooltip="The go/no-go review: the burn-in criteria one by one with their evidence, each marked,"
                        " then GO or NO-GO recorded in the audit trail", id="review"),
        Binding("k", "ack", "Ack alert",
                tooltip="Acknowledge the selected alert (when the alerts are not focused: the newest open one)",
                id="ack"),
        Binding("f5", "refresh", "Refresh now", tooltip="Evaluate the gates now", id="refresh", show=False),
        Binding("z", "toggle_zone", "Zone/UTC",
                tooltip="Write every time on screen in UTC, or back in the configured zone ([console] timezone)",
                id="toggle_zone"),
        Binding("w", "chart_next", "Window", tooltip="Chart the selected gate over the next window: 1 h → 24 h → 7 d",
                id="chart_next"),
        Binding("1", "chart_1h", "Chart 1 h", tooltip="Chart the selected gate over the last hour", id="chart_1h",
                show=False),
        Binding("2", "chart_24h", "Chart 24 h", tooltip="Chart the selected gate over the last 24 hours",
                id="chart_24h", show=False),
        Binding("3", "chart_7d", "Chart 7 d", tooltip="Chart the selected gate over the last 7 days", id="chart_7d",
                show=False),
        Binding("e", "demo_errors", "errors", tooltip="Demo: make the service answer errors", id="demo_errors"),
        Binding("l", "demo_latency", "latency", tooltip="Demo: make the service slow", id="demo_latency"),
        Binding("o", "demo_outage", "outage", tooltip="Demo: take one component down", id="demo_outage"),
        Binding("x", "demo_down", "all down", tooltip="Demo: take every component down", id="demo_down", show=False),
        Binding("n", "demo_normal", "reset",
                tooltip="Demo: back to normal: clear the fault and seed a clean week again, so the gates read GO"
                        " within seconds (as `gonogo demo --reset` starts)", id="demo_normal"),
    ]
    # Keys that no binding of ours holds: Textual's own, listed in the help with the rest.
    OTHER_KEYS = (("↑ / ↓", "Select a gate (its history is charted) or an alert"),
                  ("ctrl+p", "Command palette: every action by name"))
    # When the footer cannot show every key (80 columns), it keeps these first, in this
    # order (widgets/key_footer.py); every key stays in the help and the palette.
    FOOTER_RANK = ("help", "quit", "app.pop_screen", "advance", "hold_resume", "rollback", "ack", "demo_normal",
                   "demo_errors", "filter", "history", "review", "toggle_zone", "chart_next", "demo_latency",
                   "demo_outage", "command_palette")

    # repaint=False: an App reactive that repaints redraws every widget of the screen at
    # each snapshot (1 Hz); the widgets that watch these redraw only what changed.
    snapshot: reactive[Snapshot | None] = reactive(None, repaint=False)
    engine_status: reactive[str] = reactive("opening the database…", repaint=False)
    stale_for: reactive[float] = reactive(0.0, repaint=False)  # seconds without a new evaluation, once past stale_after()
    # The zone every time on screen is written in: [console] timezone, or UTC (`z`).
    # The screens hand it to their widgets; nothing reads a zone of its own.
    zone: reactive[tzinfo] = reactive(timezone.utc, repaint=False)
    chart_window: reactive[str] = reactive("1h", repaint=False)  # a key of checks.times.CHART_WINDOWS
    chart: reactive[ChartView | None] = reactive(None, repaint=False)  # the selected gate's window, as last read

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], datetime] = utcnow,
        demo: FaultInjector | None = None,
        embedded_name: str = "pg",
        start_engine: bool = True,
    ):
        super().__init__()
        self.config = config
        self.clock = clock
        self.demo = demo
        self.embedded_name = embedded_name
        self.start_engine = start_engine  # False: render a given snapshot only (snapshot tests)
        self.engine: Engine | None = None
        self.store: Store | None = None
        self.last_action = None  # the last ActionResult, for tests and the status line
        self.loud_events = NewEvents()  # the loud events this console has seen (the bell rings once each)
        self.review_marks: tuple = ()  # the review's marks so far (checks.models.CriterionMark), until recorded
        self.configured_zone = config.console.zone
        self.set_reactive(GonogoApp.zone, self.configured_zone)
        self._chart_gate: str | None = None
        self._chart_busy = False  # one read of the chart's window at a time ...
        self._chart_again = False  # ... and one more after it when something changed meanwhile
        self._chart_timer = None

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = False) -> None:
        """Every toast carries text from outside (reasons, names, errors, an actuator's
        stderr): never parsed as markup, never a terminal control, whoever calls it."""
        super().notify(visible(message, multiline=True, limit=1000), title=visible(title, limit=100),
                       severity=severity, timeout=timeout, markup=False)

    # -- lifecycle ------------------------------------------------------------

    def snapshot_age(self) -> float:
        if self.snapshot is None:
            return 0.0
        return max(0.0, (self.clock() - self.snapshot.at).total_seconds())

    def stale_after(self) -> float:
        """No new evaluation for this long: everything on screen is stale."""
        return max(10.0, 3 * self.config.console.refresh.total_seconds())

    def refused_as_stale(self, needs: str, nothing: str) -> bool:
        """Refuse (a dialog that says why) what `needs` a current evaluation while the
        screen is stale; True when refused. The one check actions and decisions share."""
        if self.snapshot_age() <= self.stale_after():
            return False
        self.push_screen(MessageDialog(
            "Refused: the screen is stale",
            f"The last evaluation is {self.snapshot_age():.0f} s old; {needs}. {nothing}"))
        return True

    def _check_staleness(self) -> None:
        age = self.snapshot_age()
        stale = self.snapshot is not None and age > self.stale_after()
        self.stale_for = age if stale else 0.0

    def on_mount(self) -> None:
        self.set_interval(1.0, self._check_staleness)
        self.push_screen(DashboardScreen())
        if self.start_engine:
            self.run_worker(self._run_engine(), name="engine", group="engine", exit_on_error=False)

    async def _run_engine(self) -> None:
        delay = 1.0
        while self.store is None:
            try:
                self.post_message(EngineStatus("opening the database…"))
                self.store = await open_store(self.config, embedded_name=self.embedded_name)
            except Exception as e:  # a fault is shown and retried, never a traceback
                self.post_message(EngineStatus(f"database unavailable: {mask_text(str(e)).splitlines()[0]} (retrying in {delay:.0f} s)"))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)
        self.post_message(EngineStatus("evaluating the gates…"))
        self.engine = Engine(self.config, self.store, clock=self.clock, on_snapshot=self._post_snapshot,
                             on_rollout_change=self._post_rollout_change)
        try:
            await self.engine.run()
        finally:
            await self.engine.aclose()
            with contextlib.suppress(Exception):
                await self.store.close()

    def _post_snapshot(self, snap: Snapshot) -> None:
        self.post_message(SnapshotUpdated(snap))

    def on_snapshot_updated(self, message: SnapshotUpdated) -> None:
        before = self.snapshot
        self.snapshot = message.snapshot
        # Advance / Hold / Rollback become available (or not). Refreshing the bindings
        # recomposes the footer: only when what they depend on changed, not every second.
        if _actionable(before) != _actionable(message.snapshot):
            self.refresh_bindings()
        self.ring_for_new_events(message.snapshot)
        version = lambda snap: snap.rollout.version if snap is not None and snap.rollout is not None else None  # noqa: E731
        if version(before) != version(message.snapshot) or (self._chart_timer is None and not self._chart_busy):
            self._read_chart()  # a new action to mark, or the reads not started yet (the database just opened)

    def ring_for_new_events(self, snap: Snapshot) -> None:
        """The terminal bell, once for each loud event (an auto-rollback, a rollout not
        applied, a new critical alert: checks.notices) new to this console. Its line
        stays on the banner until acknowledged; the bell says it happened, once, to an
        operator who is not looking. A snapshot the database did not answer carries the
        last alerts: it tells nothing new."""
        if not snap.database.ok:
            return
        new = self.loud_events.new(snap.notices)
        if self.config.console.bell:
            for _ in new:
                self.bell()

    def on_engine_status(self, message: EngineStatus) -> None:
        self.engine_status = message.text

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # One place where worker errors land: shown, never a traceback on the terminal.
        if event.state is WorkerState.ERROR:
            err = event.worker.error
            self.notify(mask_text(f"{type(err).__name__}: {err}")[:300], title=f"{event.worker.name} failed", severity="error", timeout=15)
            if event.worker.name == "engine":
                self.engine_status = f"engine stopped: {mask_text(str(err))[:200]} (restarting)"
                self.store = None
                self.set_timer(2, lambda: self.run_worker(self._run_engine(), name="engine", group="engine", exit_on_error=False))

    # -- actions --------------------------------------------------------------

    # -- rollout control --------------------------------------------------------

    # -- the zone and the chart -------------------------------------------------

    def action_toggle_zone(self) -> None:
        self.zone = self.configured_zone if self.zone is timezone.utc else timezone.utc
        now = self.clock()
        same = " (the configured zone is UTC too)" if zone_name(self.configured_zone, now) == "UTC" else ""
        self.notify(f"times in {zone_name(self.zone, now)}{same}; z flips", title="time zone")

    def action_chart_next(self) -> None:
        windows = list(CHART_WINDOWS)
        self._chart_to(windows[(windows.index(self.chart_window) + 1) % len(windows)])

    def action_chart_1h(self) -> None:
        self._chart_to("1h")

    def action_chart_24h(self) -> None:
        self._chart_to("24h")

    def action_chart_7d(self) -> None:
        self._chart_to("7d")

    def _chart_to(self, window: str) -> None:
        if window != self.chart_window:
            self.chart_window = window
            self._read_chart()

    def want_chart(self, gate: str | None) -> None:
        """The dashboard's selected gate: its window is read at once, then every
        CHART_REREAD seconds."""
        if gate != self._chart_gate:
            self._chart_gate = gate
            self._read_chart()

    def _read_chart(self) -> None:
        """Read the chart's window in a worker of the App (the gate's recorded values
        folded into buckets by the database, and the rollout's actions in the window); the next
        read is armed when this one ends, never two at once."""
        if self._chart_timer is not None:
            self._chart_timer.stop()
            self._chart_timer = None
        if self._chart_busy:
            self._chart_again = True
            return
        if self.store is None or self._chart_gate is None:
            return
        self._chart_busy = True
        self.run_worker(self._load_chart(self._chart_gate, self.chart_window), name="chart", group="chart",
                        exit_on_error=False)

    async def _load_chart(self, gate: str, window: str) -> None:
        from .store.db import StoreUnavailable

        span, bucket = CHART_WINDOWS[window]
        end = self.clock()
        start = end - span
        try:
            try:
                # Every window from the recorded evaluations, the last hour too: the engine's
                # own trend holds its last 240, which while a gate is red (every evaluation
                # recorded) is 4 minutes, not an hour. The chart adds the trend's newer points.
                points = tuple(await self.store.gate_trend(gate, start, bucket))
                events = tuple(await self.store.rollout_history(self.config.rollout.flag, since=start))
                self.chart = ChartView(gate=gate, window=window, start=start, end=end, points=points, events=events)
            except StoreUnavailable as e:
                why = mask_text(str(e)).splitlines()[0][:120] if str(e) else "database unavailable"
                last = self.chart
                if last is not None and (last.gate, last.window) == (gate, window):
                    self.chart = last.model_copy(update={"failed": why})  # the last answer stays, marked
                else:
                    self.chart = ChartView(gate=gate, window=window, start=start, end=end, failed=why)
        finally:
            self._chart_busy = False
            if self._chart_again:
                self._chart_again = False
                self._read_chart()
            else:
                self._chart_timer = self.set_timer(CHART_REREAD, self._read_chart)

    def _post_rollout_change(self, notice: RolloutNotice) -> None:
        self.post_message(RolloutChanged(notice))

    def on_rollout_changed(self, message: RolloutChanged) -> None:
        n = message.notice
        if n.recovered:
            self.notify(n.recovered, title="recovered an unapplied change")
        elif n.origin == ORIGIN:
            return  # our own action: already reported
        elif n.action is not None:
            auto = " (AUTOMATIC)" if n.automatic else ""
            self.notify(f"{n.operator} did {n.action}{auto}: {n.from_pct} % → {n.to_pct} %",
                        title="rollout changed elsewhere", severity="warning", timeout=15)
        elif n.review:
            self.notify(f"{n.operator} recorded the review: {n.review} at {n.to_pct} %",
                        title="go/no-go decision recorded elsewhere", severity="warning", timeout=15)

    # -- the go/no-go review ------------------------------------------------------

    def action_refresh(self) -> None:
        if self.engine is not None:
            self.engine.poke()












def _actionable(snap: Snapshot | None) -> tuple:
    if snap is None:
        return (False,)
    return (snap.rollout is not None, snap.database.ok, snap.rollout.state if snap.rollout else None)


def make_app(config: Config, **kw) -> GonogoApp:
    """The one app factory: the CLI, the demo and the tests run the same app."""
    return GonogoApp(config, **kw)
