"""Screen snapshots of the dashboard rendering a fixed Snapshot at a fixed clock and
size (no engine, no I/O): a regression net for the layout. Update deliberately with
`scripts/test tests/test_snapshots.py --snapshot-update` and look at the diff."""
from datetime import datetime, timedelta, timezone

import pytest
from textual.widgets import DataTable, Input

from checks.day1 import DAY1_BANDS
from checks.models import (Alert, AutoRollbackView, Band, BreachRun, BurnInView, GateReading, RolloutView, Snapshot, SourceHealth, Verdict)
from console.app import make_app
from console.config import parse_config
from console.screens.help import HelpScreen
from console.screens.history import HistoryScreen
from widgets.verdict_banner import VerdictBanner

from .conftest import wait_for

# Each screen is compared once what it must show is on it (a wait on the screen, not a
# fixed pause), and nothing on it moves with the clock: these run in the parallel pass.

NOW = datetime(2026, 11, 24, 3, 12, 5, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _utc(utc_tz):
    """Times on screen in UTC, whatever this machine's zone."""


def fixed_snapshot(database_ok=True) -> Snapshot:
    g = lambda name, value, band, unit, detail="", stale=False, window="5m": GateReading(  # noqa: E731
        name=name, value=value, band=band, unit=unit, bands=DAY1_BANDS.get(name), window=window, target="all",
        detail=detail, stale=stale, source="probe")
    gates = (
        g("error_rate", 1.8, Band.RED, "%", "18/1000 failed"),
        g("p95_latency", 312.0, Band.YELLOW, "ms", "1000 probes"),
        g("checks_passing", 80.0, Band.YELLOW, "%", "4/5 healthy", window="1m"),
        g("uptime", 99.991, Band.YELLOW, "%", "100786/100795 ok", window="7d"),
        g("test_pass_rate", 99.2, Band.GREEN, "%"),
        g("critical_alerts", None, Band.UNKNOWN, "", "relation \"alerts\" does not exist"),
    )
    history = {"error_rate": tuple(0.02 * (i % 5) for i in range(40)) + (0.4, 1.1, 1.6, 1.8),
               "p95_latency": tuple(120 + (i * 7) % 60 for i in range(40)) + (250, 290, 312)}
    verdict, reasons = Verdict.ROLLBACK, ("error_rate red (1.80 %)",
                                          "critical_alerts unknown (relation \"alerts\" does not exist)",
                                          "p95_latency yellow (312 ms)")
    if not database_ok:  # as the engine shows it: last values kept, every gate stale and unknown
        gates = tuple(x.model_copy(update={"band": Band.UNKNOWN, "stale": True, "detail": "database unavailable"})
                      for x in gates)
        verdict, reasons = Verdict.HOLD, tuple(f"{x.name} unknown (stale)" for x in gates)
    return Snapshot(
        at=NOW, verdict=verdict,
        reasons=reasons,
        gates=gates,
        rollout=RolloutView(flag="phase_4_deployment", steps=(0, 5, 10, 25, 50, 75, 100), percentage=25,
                            state="soaking", version=7, stage_started_at=NOW - timedelta(hours=8, minutes=48),
                            soak_seconds=12 * 3600, soak_elapsed_seconds=8 * 3600 + 48 * 60, as_of=NOW,
                            updated_by="alice"),
        alerts=(Alert(at=NOW - timedelta(minutes=2), source="rule", severity="critical", name="error_rate red",
                      summary="1.80 % (green < 0.1)", fingerprint="a"),
                Alert(at=NOW - timedelta(minutes=9), source="alertmanager", severity="warning", name="HighLatencyP95",
                      summary="p95 over 300 ms for 5m", fingerprint="b"),
                Alert(at=NOW - timedelta(hours=3), source="events", severity="info", name="canary at 25 %",
                      fingerprint="c", acked=True)),
        burn_in=BurnInView(start=NOW - timedelta(days=6, hours=11), end=NOW + timedelta(hours=13),
                           review=NOW + timedelta(days=1, hours=6), clean_days=5, days=7),
        database=SourceHealth(name="database", ok=database_ok, reason="" if database_ok else "no connection within the timeout (server down, unreachable, or every connection busy)"),
        leader=True,
        auto_rollback=AutoRollbackView(enabled=True, gates=("error_rate", "p95_latency"), sustain_seconds=300,
                                       consecutive=3, breaching=(BreachRun(gate="error_rate", seconds=192, evaluations=13),)),
        history=history,
    )


def _banner(app) -> str:
    banners = app.screen.query(VerdictBanner)
    return banners.first().render_text().plain if banners else ""


def _app(snapshot, theme: str | None = None):
    config = parse_config({"console": {"operator": "alice"}, "auto_rollback": {"enabled": False}})
    app = make_app(config, clock=lambda: NOW, start_engine=False)

    async def show(pilot):
        if theme is not None:
            app.theme = theme
        app.snapshot = snapshot
        await wait_for(pilot, lambda: snapshot.verdict.value in _banner(app), what="the snapshot on the banner")
        await pilot.pause()

    return app, show


def test_dashboard_rollback_verdict(snap_compare):
    app, show = _app(fixed_snapshot())
    assert snap_compare(app, terminal_size=(120, 36), run_before=show)


def test_dashboard_database_down_is_stale(snap_compare):
    app, show = _app(fixed_snapshot(database_ok=False))
    assert snap_compare(app, terminal_size=(160, 48), run_before=show)


# The layout follows the terminal: each size from the smallest supported to a large one
# (120x36 is test_dashboard_rollback_verdict's).
@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 48), (200, 60)],
                         ids=lambda size: f"{size[0]}x{size[1]}")
def test_dashboard_at_size(snap_compare, size):
    app, show = _app(fixed_snapshot())
    assert snap_compare(app, terminal_size=size, run_before=show)


def test_dashboard_light_theme(snap_compare):
    app, show = _app(fixed_snapshot(), theme="textual-light")
    assert snap_compare(app, terminal_size=(120, 36), run_before=show)


# --- interactions: the dialogs, the help and the audit trail, as a user opens them ---

class _TrailOnly:
    """The reads the audit trail screen (and the chart behind it) make, answered with a
    fixed trail and no recorded values (the screen's rendering is what these snapshots
    hold; the reads are tested on a real database in test_ui_rollout.py, test_chart.py)."""

    async def gate_trend(self, gate, since, bucket, **kw):
        return []

    async def rollout_history(self, flag, **kw):
        from checks.models import AuditEvent

        ev = lambda minutes, op, action, f, t, reason, verdict, **kw: AuditEvent(  # noqa: E731
            at=NOW - timedelta(minutes=minutes), operator=op, action=action, from_pct=f, to_pct=t, reason=reason,
            verdict=verdict, **kw)
        return [ev(900, "alice", "advance", 5, 10, "soak done, all green", "GO"),
                ev(300, "bob", "advance", 10, 25, "review agreed to go on despite p95", "HOLD", override=True),
                ev(12, "gonogo", "rollback", 25, 0, "error_rate red for 5m (3 evaluations)", "ROLLBACK", automatic=True),
                ev(4, "alice", "hold", 0, 0, "[bold]looking[/] at the \x1b[31mlogs", "ROLLBACK")]


def _dialog(action):
    from console.rollout import preview
    from console.screens.dialogs.action import ActionDialog

    app, show = _app(fixed_snapshot())

    async def open_dialog(pilot):
        await show(pilot)
        app.push_screen(ActionDialog(action, preview(action, app.snapshot, app.config, NOW), app.snapshot))
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog) and isinstance(app.focused, Input)
                       and app.focused.screen is app.screen, what="the dialog, its reason focused")
        await pilot.pause()

    return app, open_dialog


def test_rollback_dialog(snap_compare):
    """Rollback: always allowed; asks for a reason and the flag's name, focus on the reason."""
    app, open_dialog = _dialog("rollback")
    assert snap_compare(app, terminal_size=(120, 36), run_before=open_dialog)


def test_advance_refused_asks_for_the_override(snap_compare):
    """Advance on a ROLLBACK verdict with soak left: the dialog says why it is refused
    and what an override records."""
    app, open_dialog = _dialog("advance")
    assert snap_compare(app, terminal_size=(120, 36), run_before=open_dialog)


def test_help_screen(snap_compare):
    app, show = _app(fixed_snapshot())

    async def open_help(pilot):
        await show(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 36), run_before=open_help)


def test_audit_trail_screen(snap_compare):
    """`H`: newest first, AUTO and OVERRIDE marked, outside text shown literally."""
    app, show = _app(fixed_snapshot())
    app.store = _TrailOnly()

    async def open_trail(pilot):
        await show(pilot)
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen)
                       and app.screen.query_one(DataTable).row_count == 4, what="the audit trail's four events")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 36), run_before=open_trail)
