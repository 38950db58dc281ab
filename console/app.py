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

from checks.models import Snapshot

from . import __version__
from .config import Config
from .engine import Engine, utcnow
from .messages import EngineStatus, SnapshotUpdated
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


DEMO_KEYS = {"demo_errors": "errors", "demo_latency": "latency", "demo_outage": "outage", "demo_down": "down", "demo_normal": None}


class GonogoApp(App):
    TITLE = "gonogo"
    SUB_TITLE = f"v{__version__}"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
        Binding("k", "ack", "Ack alert", id="ack"),
        Binding("f5", "refresh", "Refresh now", id="refresh", show=False),
        Binding("e", "demo_errors", "Demo: error spike", id="demo_errors"),
        Binding("l", "demo_latency", "Demo: latency spike", id="demo_latency"),
        Binding("o", "demo_outage", "Demo: outage", id="demo_outage"),
        Binding("x", "demo_down", "Demo: all down", id="demo_down", show=False),
        Binding("n", "demo_normal", "Demo: normal", id="demo_normal"),
    ]

    snapshot: reactive[Snapshot | None] = reactive(None)
    engine_status: reactive[str] = reactive("opening the database…")

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], datetime] = utcnow,
        demo: FaultInjector | None = None,
        embedded_name: str = "pg",
    ):
        super().__init__()
        self.config = config
        self.clock = clock
        self.demo = demo
        self.embedded_name = embedded_name
        self.engine: Engine | None = None
        self.store: Store | None = None

    # -- lifecycle ------------------------------------------------------------

    def on_mount(self) -> None:
        self.push_screen(DashboardScreen())
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
        self.engine = Engine(self.config, self.store, clock=self.clock, on_snapshot=self._post_snapshot)
        try:
            await self.engine.run()
        finally:
            await self.engine.aclose()
            with contextlib.suppress(Exception):
                await self.store.close()

    def _post_snapshot(self, snap: Snapshot) -> None:
        self.post_message(SnapshotUpdated(snap))

    def on_snapshot_updated(self, message: SnapshotUpdated) -> None:
        self.snapshot = message.snapshot

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
        return True

    def action_help(self) -> None:
        rows = []
        seen = set()
        for b in [*self.screen.BINDINGS, *self.BINDINGS]:
            if isinstance(b, Binding) and b.description and (b.id or b.action) not in seen:
                if b.action in DEMO_KEYS and self.demo is None:
                    continue
                seen.add(b.id or b.action)
                rows.append((b.key_display or b.key, b.description))
        rows += [("↑ / ↓", "Select a gate (its history is charted) or an alert"), ("tab", "Next panel"),
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
        yield SystemCommand("Acknowledge alert", "Acknowledge the selected (or newest) alert", self.action_ack)
        yield SystemCommand("Refresh now", "Evaluate the gates now", self.action_refresh)
        if self.demo is not None:
            for action, kind in DEMO_KEYS.items():
                yield SystemCommand(f"Demo: {kind or 'normal'}", "Inject a fault into the simulated service",
                                    getattr(self, f"action_{action}"))


def make_app(config: Config, **kw) -> GonogoApp:
    """The one app factory: the CLI, the demo and the tests run the same app."""
    return GonogoApp(config, **kw)
