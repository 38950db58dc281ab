"""The Textual application: owns the engine (never a screen does), the settings,
the global bindings and the routing of errors. Screens only render."""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.worker import Worker, WorkerState

from checks.models import ActionRequest, RolloutAction, RolloutNotice, Snapshot, Verdict
from checks.notices import NewEvents
from checks.rollout import Refusal
from widgets.literal import visible

from . import __version__
from .config import Config
from .engine import Engine, utcnow
from .messages import EngineStatus, RolloutChanged, SnapshotUpdated
from .rollout import ORIGIN, preview
from .screens.alert_detail import AlertDetailScreen
from .screens.dialogs.action import ActionDialog
from .screens.dialogs.message import MessageDialog
from .screens.history import HistoryScreen
from .runtime import open_store
from .screens.dashboard import DashboardScreen
from .screens.gate_detail import GateDetailScreen
from .screens.help import HelpScreen
from .secrets import mask_text
from .store.db import Store

log = logging.getLogger("gonogo.app")


class FaultInjector(Protocol):
    """What the demo's simulated service offers the console's demo keys."""

    def inject(self, kind: str | None) -> None: ...
    def describe(self) -> str: ...


SEVERITY = {Verdict.GO: 0, Verdict.HOLD: 1, Verdict.ROLLBACK: 2}
ROLLOUT_BINDINGS = {"advance", "advance_override", "hold_resume", "rollback", "retry"}  # they act on the rollout
DEMO_KEYS = {"demo_errors": "errors", "demo_latency": "latency", "demo_outage": "outage", "demo_down": "down", "demo_normal": None}


class GonogoApp(App):
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
        Binding("k", "ack", "Ack alert",
                tooltip="Acknowledge the selected alert (when the alerts are not focused: the newest open one)",
                id="ack"),
        Binding("f5", "refresh", "Refresh now", tooltip="Evaluate the gates now", id="refresh", show=False),
        Binding("e", "demo_errors", "errors", tooltip="Demo: make the service answer errors", id="demo_errors"),
        Binding("l", "demo_latency", "latency", tooltip="Demo: make the service slow", id="demo_latency"),
        Binding("o", "demo_outage", "outage", tooltip="Demo: take one component down", id="demo_outage"),
        Binding("x", "demo_down", "all down", tooltip="Demo: take every component down", id="demo_down", show=False),
        Binding("n", "demo_normal", "normal", tooltip="Demo: back to normal", id="demo_normal"),
    ]
    # Keys that no binding of ours holds: Textual's own, listed in the help with the rest.
    OTHER_KEYS = (("↑ / ↓", "Select a gate (its history is charted) or an alert"),
                  ("ctrl+p", "Command palette: every action by name"))

    # repaint=False: an App reactive that repaints redraws every widget of the screen at
    # each snapshot (1 Hz); the widgets that watch these redraw only what changed.
    snapshot: reactive[Snapshot | None] = reactive(None, repaint=False)
    engine_status: reactive[str] = reactive("opening the database…", repaint=False)
    stale_for: reactive[float] = reactive(0.0, repaint=False)  # seconds without a new evaluation, once past stale_after()

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
        return max(10.0, 5 * self.config.console.refresh.total_seconds())

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

    def check_action(self, action: str, parameters) -> bool | None:
        if action in DEMO_KEYS:
            return self.demo is not None
        if action in ROLLOUT_BINDINGS:
            if self.config.console.read_only:
                return None  # shown, greyed out: this console may not act
            if self.engine is None or self.snapshot is None or self.snapshot.rollout is None:
                return None
            if action == "advance":
                return True if self.advance_state() == ("ok",) else None  # greyed out: it would be refused
            if action == "advance_override":
                return self.advance_state() == ("refused", True)  # shown only when an override is what is left
        return True

    def advance_state(self) -> tuple:
        """What Advance would do now, as the bindings need it: ("ok",), ("refused",
        overridable) or ("off",) (nothing loaded, or a read-only console)."""
        snap = self.snapshot
        if self.config.console.read_only or snap is None or snap.rollout is None or self.engine is None:
            return ("off",)
        plan = preview("advance", snap, self.config, self.clock())
        return ("refused", plan.overridable) if isinstance(plan, Refusal) else ("ok",)

    def why_not(self, action: str) -> str:
        """Why a greyed-out key does nothing now ("" when it is available), for the
        help and the palette."""
        if self.check_action(action, ()):
            return ""
        if action in ROLLOUT_BINDINGS:
            snap = self.snapshot
            if self.config.console.read_only:
                return "this console is read-only"
            if snap is None or snap.rollout is None or self.engine is None:
                return "the rollout state is not loaded yet"
            if action in ("advance", "advance_override"):
                plan = preview("advance", snap, self.config, self.clock())
                if isinstance(plan, Refusal):
                    return f"refused now: {plan.reason}" + (" (A overrides)" if plan.overridable else "")
                return "advance is allowed: a advances"
        if action in DEMO_KEYS:
            return "only in the demo"
        return "not available now"

    # -- rollout control --------------------------------------------------------

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
        from .store.db import StoreUnavailable

        snap = self.snapshot
        if request.override and SEVERITY[snap.verdict] > SEVERITY[request.seen_verdict]:
            self.push_screen(MessageDialog(
                "Refused: the verdict changed",
                f"You confirmed an override against {request.seen_verdict.value}; it is {snap.verdict.value} now "
                f"({'; '.join(snap.reasons[:3])}). Nothing was changed. Look again, then decide again."))
            return
        if self.snapshot_age() > self.stale_after():
            self.push_screen(MessageDialog(
                "Refused: the screen is stale",
                f"The last evaluation is {self.snapshot_age():.0f} s old; an action needs a current verdict. "
                "Nothing was changed or queued."))
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
        from .store.db import StoreUnavailable

        try:
            result = await self.engine.controller.retry_actuation()
        except StoreUnavailable as e:
            self.notify(f"not retried: {e}", title="database unavailable", severity="error")
            return
        ok = result.actuation == "ok"
        self.notify(result.message if ok else f"still not applied: {result.actuation_error}",
                    title="re-applied" if ok else "NOT APPLIED", severity="information" if ok else "error")
        self.action_refresh()

    def action_history(self) -> None:
        if self.store is None:
            self.notify("the database is not open yet", severity="warning")
            return
        self.push_screen(HistoryScreen())

    def load_history(self, screen: "HistoryScreen") -> None:
        """Called by the history screen once mounted; the App does the I/O."""
        self.run_worker(self._load_history(screen), name="history", group="history", exit_on_error=False)

    async def _load_history(self, screen: "HistoryScreen") -> None:
        from .store.db import StoreUnavailable

        try:
            history = await self.store.rollout_history(self.config.rollout.flag)
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
        from .store.db import StoreUnavailable

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
        from .store.db import StoreUnavailable

        if self.store is None:
            screen.failed("the database is not open yet")
            return
        try:
            detail = await self.store.alert_detail(screen.alert.fingerprint)
        except StoreUnavailable as e:
            screen.failed(f"database unavailable: {e}")
            return
        screen.show(detail)  # a screen already closed keeps it, unseen

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

    def key_list(self) -> list[tuple[str, str, str]]:
        """(key, what it does, why it does nothing now or "") for every key of the
        screen and the App, each key once: the screen's binding of a key wins, as it
        does when the key is pressed. The help shows this list."""
        rows: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        screen = self.screen if not isinstance(self.screen, HelpScreen) else self.screen_stack[-2]
        for namespace, b in [*((screen, b) for b in screen.BINDINGS), *((self, b) for b in self.BINDINGS)]:
            if not isinstance(b, Binding) or not b.description or b.key in seen:
                continue
            if b.action in DEMO_KEYS and self.demo is None:
                continue
            seen.add(b.key)
            why = self.why_not(b.action) if namespace is self else ""
            # The footer's word first, so what the footer shows is found here.
            what = f"{b.description}: {b.tooltip}" if b.tooltip else b.description
            rows.append((b.key_display or b.key, what, why))
        rows += [(key, what, "") for key, what in self.OTHER_KEYS]
        return rows

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_list()))

    def action_refresh(self) -> None:
        if self.engine is not None:
            self.engine.poke()

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
        from .store.db import StoreUnavailable

        try:
            await self.store.ack_alert(fingerprint, self.config.operator)
        except StoreUnavailable as e:
            self.notify(f"not acknowledged: {e}", title="database unavailable", severity="error")
            return
        self.notify(f"acknowledged: {name}")
        self.action_refresh()

    def _demo(self, kind: str | None) -> None:
        if self.demo is None:
            return
        self.demo.inject(kind)
        self.notify(self.demo.describe(), title="demo")
        self.action_refresh()

    def action_demo_errors(self) -> None:
        self._demo("errors")

    def action_demo_latency(self) -> None:
        self._demo("latency")

    def action_demo_outage(self) -> None:
        self._demo("outage")

    def action_demo_down(self) -> None:
        self._demo("down")

    def action_demo_normal(self) -> None:
        self._demo(None)

    def get_system_commands(self, screen):
        """The palette lists the same keys as the footer and the help, by the same words."""
        yield from super().get_system_commands(screen)
        for b in self.BINDINGS:
            if b.action == "quit" or (b.action in DEMO_KEYS and self.demo is None):
                continue  # Textual's palette has its own Quit
            why = self.why_not(b.action)
            help_text = f"{b.tooltip} — {why}" if why else b.tooltip
            yield SystemCommand(b.description if b.action not in DEMO_KEYS else f"Demo: {b.description}",
                                f"{help_text} (key: {b.key_display or b.key})", functools.partial(self._palette_run, b.action))
        for b in getattr(screen, "BINDINGS", ()):
            if isinstance(b, Binding) and b.show and b.tooltip:  # the screen's own keys, such as / on the dashboard
                yield SystemCommand(b.description, f"{b.tooltip} (key: {b.key_display or b.key})",
                                    functools.partial(screen.run_action, b.action))

    def _palette_run(self, action: str) -> None:
        """A command chosen in the palette runs only if its key would."""
        why = self.why_not(action)
        if why:
            self.notify(why, title="not now", severity="warning")
            return
        getattr(self, f"action_{action}")()

def _actionable(snap: Snapshot | None) -> tuple:
    if snap is None:
        return (False,)
    return (snap.rollout is not None, snap.database.ok, snap.rollout.state if snap.rollout else None)


def make_app(config: Config, **kw) -> GonogoApp:
    """The one app factory: the CLI, the demo and the tests run the same app."""
    return GonogoApp(config, **kw)
