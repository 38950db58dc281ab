"""The Textual application: owns the engine (never a screen does), the settings,
the global bindings and the routing of errors. Screens only render."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.worker import Worker, WorkerState

from checks.models import ActionRequest, RolloutAction, RolloutNotice, Snapshot, Verdict
from widgets.literal import visible

from . import __version__
from .config import Config
from .engine import Engine, utcnow
from .messages import EngineStatus, RolloutChanged, SnapshotUpdated
from .rollout import ORIGIN, preview
from .screens.dialogs.action import ActionDialog
from .screens.dialogs.message import MessageDialog
from .screens.history import HistoryScreen
from .runtime import open_store
from .screens.dashboard import DashboardScreen
from .screens.help import HelpScreen
from .secrets import mask_text
from .store.db import Store

log = logging.getLogger("gonogo.app")


class FaultInjector(Protocol):
    """What the demo's simulated service offers the console's demo keys."""

    def inject(self, kind: str | None) -> None: ...
    def describe(self) -> str: ...


SEVERITY = {Verdict.GO: 0, Verdict.HOLD: 1, Verdict.ROLLBACK: 2}
ROLLOUT_BINDINGS = {"advance", "hold_resume", "rollback", "retry"}  # the bindings that act on the rollout
DEMO_KEYS = {"demo_errors": "errors", "demo_latency": "latency", "demo_outage": "outage", "demo_down": "down", "demo_normal": None}


class GonogoApp(App):
    TITLE = "gonogo"
    SUB_TITLE = f"v{__version__}"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
        Binding("a", "advance", "Advance", id="advance"),
        Binding("h", "hold_resume", "Hold/resume", id="hold_resume"),
        Binding("r", "rollback", "Rollback", id="rollback"),
        Binding("R", "retry", "Retry apply", tooltip="Retry applying the rollout after an actuator failure",
                id="retry", show=False),
        Binding("H", "history", "History", id="history"),
        Binding("k", "ack", "Ack alert", id="ack"),
        Binding("f5", "refresh", "Refresh now", id="refresh", show=False),
        Binding("e", "demo_errors", "errors", tooltip="Demo: inject an error spike", id="demo_errors"),
        Binding("l", "demo_latency", "latency", tooltip="Demo: inject a latency spike", id="demo_latency"),
        Binding("o", "demo_outage", "outage", tooltip="Demo: one component down", id="demo_outage"),
        Binding("x", "demo_down", "all down", tooltip="Demo: every component down", id="demo_down", show=False),
        Binding("n", "demo_normal", "normal", tooltip="Demo: back to normal", id="demo_normal"),
    ]

    snapshot: reactive[Snapshot | None] = reactive(None)
    engine_status: reactive[str] = reactive("opening the database…")
    stale_for: reactive[float] = reactive(0.0)  # seconds without a new evaluation, once past stale_after()

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
        return True

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

    def action_help(self) -> None:
        rows = []
        seen = set()
        for b in [*self.screen.BINDINGS, *self.BINDINGS]:
            if isinstance(b, Binding) and b.description and (b.id or b.action) not in seen:
                if b.action in DEMO_KEYS and self.demo is None:
                    continue
                seen.add(b.id or b.action)
                rows.append((b.key_display or b.key, b.tooltip or b.description))
        rows += [("↑ / ↓", "Select a gate (its history is charted) or an alert"),
                 ("tab", "Move between the gates and the alerts"),
                 ("ctrl+p", "Command palette")]
        self.push_screen(HelpScreen(rows))

    def action_refresh(self) -> None:
        if self.engine is not None:
            self.engine.poke()

    def action_ack(self) -> None:
        from widgets.alert_feed import AlertFeed

        snap = self.snapshot
        if snap is None or self.store is None:
            self.notify("no alerts loaded yet", severity="warning")
            return
        feed = self.screen.query_one(AlertFeed)
        alert = feed.selected if feed.has_focus else None
        if alert is None or alert.acked:
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
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "Every key and what it does", self.action_help)
        for action, title in (("advance", "Advance"), ("hold_resume", "Hold / resume"), ("rollback", "Roll back"),
                              ("retry", "Retry applying the rollout"), ("history", "Rollout history")):
            yield SystemCommand(title, "Rollout control (asks for a reason)", getattr(self, f"action_{action}"))
        yield SystemCommand("Acknowledge alert", "Acknowledge the selected (or newest) alert", self.action_ack)
        yield SystemCommand("Refresh now", "Evaluate the gates now", self.action_refresh)
        if self.demo is not None:
            for action, kind in DEMO_KEYS.items():
                yield SystemCommand(f"Demo: {kind or 'normal'}", "Inject a fault into the simulated service",
                                    getattr(self, f"action_{action}"))


def _actionable(snap: Snapshot | None) -> tuple:
    if snap is None:
        return (False,)
    return (snap.rollout is not None, snap.database.ok, snap.rollout.state if snap.rollout else None)


def make_app(config: Config, **kw) -> GonogoApp:
    """The one app factory: the CLI, the demo and the tests run the same app."""
    return GonogoApp(config, **kw)
