"""The idle cost (issue 12, item 8): an idle console repaints only what changed.

A countdown hours away is shown to the minute, so it repaints once a minute; within
its last hour it shows, and repaints, every second. The banner and the rollout
panel, containers that draw nothing of their own, are not repainted whole at each
snapshot: their lines are, when their text changed. (The figures, against the
Textual floor, come from bench/console_startup_idle.py and bench/idle_ab.py; where
the repaints go, from bench/idle_renders.py.)"""
from datetime import datetime, timedelta, timezone

from textual.app import App

from checks.models import BurnInView
from console.app import make_app
from widgets.burn_in_panel import BurnInPanel, countdown
from widgets.rollout_panel import RolloutPanel
from widgets.verdict_banner import VerdictBanner

from .conftest import make_config, other_console_acts, wait_for

UTC = timezone.utc


def test_a_countdown_shows_seconds_only_within_the_hour():
    assert countdown(timedelta(hours=5, minutes=21, seconds=52)) == "5h 21m"  # cut down, never rounded up
    assert countdown(timedelta(days=1, hours=5, minutes=7, seconds=3)) == "1d 05h 07m"
    assert countdown(timedelta(hours=1)) == "1h 00m"
    assert countdown(timedelta(minutes=59, seconds=59)) == "59m 59s"
    assert countdown(timedelta(minutes=42, seconds=5)) == "42m 05s"
    assert countdown(timedelta(seconds=9)) == "9s"
    assert countdown(-timedelta(hours=3, minutes=2, seconds=1)) == "passed 3h 02m ago"
    assert countdown(-timedelta(minutes=3, seconds=2)) == "passed 3m 02s ago"


class CountingBurnIn(BurnInPanel):
    """The panel, counting how often Textual has it render (each repaint does)."""

    renders = 0

    def render(self):
        self.renders += 1
        return super().render()


class BurnInApp(App):
    def __init__(self, clock):
        super().__init__()
        self.clock = clock

    def compose(self):
        yield CountingBurnIn(self.clock)


def shown(panel) -> str:
    return BurnInPanel.render(panel).plain  # read, not counted


async def tick(pilot, panel, now: list, seconds: int) -> None:
    for _ in range(seconds):
        now[0] += timedelta(seconds=1)
        panel.ticker.tick()  # what the screen does with each snapshot
        await pilot.pause()


async def test_the_burn_in_repaints_once_a_minute_hours_from_its_deadlines_and_every_second_within_the_hour():
    t0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    now = [t0]
    app = BurnInApp(lambda: now[0])
    async with app.run_test(size=(60, 6)) as pilot:
        panel = app.query_one(CountingBurnIn)
        # Both deadlines 30 s past a whole minute from now: they tick over together.
        panel.view = BurnInView(start=t0 - timedelta(days=2), end=t0 + timedelta(hours=5, minutes=21, seconds=30),
                                review=t0 + timedelta(days=1, hours=5, minutes=21, seconds=30), clean_days=2, days=7)
        await pilot.pause()
        assert "ends in    5h 21m" in shown(panel) and "review in  1d 05h 21m" in shown(panel)
        before = panel.renders
        await tick(pilot, panel, now, 29)  # 5h 21m 01s left: still `5h 21m`
        assert panel.renders == before
        await tick(pilot, panel, now, 2)  # 5h 20m 59s
        assert "ends in    5h 20m" in shown(panel) and "review in  1d 05h 20m" in shown(panel)
        assert panel.renders == before + 1  # one repaint for the minute

        # Within the hour: seconds, and a repaint each.
        panel.view = panel.view.model_copy(update={"end": now[0] + timedelta(minutes=42, seconds=5)})
        await pilot.pause()
        assert "ends in    42m 05s" in shown(panel)
        before = panel.renders
        await tick(pilot, panel, now, 5)
        assert "ends in    42m 00s" in shown(panel)
        assert panel.renders == before + 5


async def test_an_idle_dashboard_does_not_repaint_the_banner_the_rollout_panel_or_a_distant_countdown(
        db_url, health_server):
    base, _ = health_server
    now = datetime.now(UTC)
    # The burn-in days away: its countdowns change once a minute.
    burn_in = {"start": (now - timedelta(days=2)).isoformat(), "days": 7,
               "review": (now + timedelta(days=6)).isoformat()}
    app = make_app(make_config(db_url, base, burn_in=burn_in))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.rollout is not None, what="a snapshot")
        other_console_acts(db_url, "alice", "to 5 %")  # soaking: the rollout's view changes every second
        await wait_for(pilot, lambda: app.snapshot.rollout.state == "soaking", what="soaking")
        # Three snapshots inside one minute of the clock (the countdowns' minute may turn once).
        await wait_for(pilot, lambda: datetime.now(UTC).second < 50, timeout=20, what="a minute with room")
        await pilot.pause(0.3)
        banner, rollout, panel = (app.screen.query_one(t) for t in (VerdictBanner, RolloutPanel, BurnInPanel))
        calls: dict[str, int] = {}

        def counted(name, refresh):
            def wrapper(*regions, **kw):
                if kw.get("repaint", True):
                    calls[name] = calls.get(name, 0) + 1
                return refresh(*regions, **kw)
            return wrapper

        for name, widget in (("banner", banner), ("rollout", rollout), ("burn-in", panel)):
            widget.refresh = counted(name, widget.refresh)
        first = app.snapshot
        seen = [first]
        await wait_for(pilot, lambda: (app.snapshot is not seen[-1] and seen.append(app.snapshot)) or len(seen) > 3,
                       what="three more snapshots")
        # What did change was shown: the evaluation's time, and the soak's rollout view.
        assert app.snapshot.at > first.at and app.snapshot.rollout.as_of != first.rollout.as_of
        assert calls == {}, calls


async def test_a_changed_cell_of_the_gates_table_is_rendered_again_alone():
    """Rich renders each cell of a table (the costly part of a repaint): when a gate's
    detail changes (its count of probes, every second), that cell is rendered again,
    not its whole row."""
    from widgets.gates_table import GatesTable

    from .test_layout import screen_lines
    from .test_snapshots import _app, fixed_snapshot

    snap = fixed_snapshot()
    app, show = _app(snap)
    async with app.run_test(size=(160, 48)) as pilot:
        await show(pilot)
        table = app.screen.query_one(GatesTable)
        await pilot.pause(0.2)
        table.refresh()  # every cell rendered as it stands after the first layout (a resize renders all again)
        await pilot.pause(0.1)
        console = app.console
        rendered = []
        real = console.render_lines
        console.render_lines = lambda renderable, *a, **kw: (rendered.append(renderable), real(renderable, *a, **kw))[1]
        try:
            gates = tuple(g.model_copy(update={"detail": "74 probes"}) if g.name == "p95_latency" else g
                          for g in snap.gates)
            table.show(gates, snap.history)
            await pilot.pause(0.1)
        finally:
            console.render_lines = real
        assert any(" p95_latency " in line and "74 probes" in line for line in screen_lines(app))
        cells = [r.plain for r in rendered if hasattr(r, "plain")]  # each cell's Text (inside Textual's padding)
        assert cells == ["74 probes"], cells  # the detail's cell; not the row's other six
