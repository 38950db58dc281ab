"""Focus, selection, detail and the one list of keys (issue 12, items 1 and 7),
driven as a user drives them, against a real database and a real health endpoint."""
from datetime import datetime, timedelta, timezone

import psycopg

from console.app import make_app
from console.screens.alert_detail import AlertDetailScreen
from console.screens.dialogs.action import ActionDialog
from console.screens.gate_detail import GateDetailScreen
from console.screens.help import HelpScreen
from widgets.alert_feed import AlertFeed, AlertFilter
from widgets.gates_table import GatesTable
from widgets.rollout_panel import RolloutPanel

from .conftest import keys, make_config, press_then_type, quick_config, type_keys, wait_for

SIZE = (120, 36)



def text_of(app, selector: str) -> str:
    return app.screen.query_one(selector).render().plain


def feed_rows(app) -> list[str]:
    feed = app.screen.query_one(AlertFeed)
    return [" ".join(getattr(c, "plain", str(c)) for c in feed.get_row_at(i)) for i in range(feed.row_count)]


def acked(db_url) -> dict[str, tuple]:
    with psycopg.connect(db_url) as c:
        return {fp: (by, at) for fp, by, at in c.execute("select fingerprint, acked_by, acked_at from gonogo.alerts")}


async def started(pilot, app, *, rollout: bool = False):
    await wait_for(pilot, lambda: app.snapshot is not None and app.store is not None and app.engine is not None
                   and (not rollout or app.snapshot.rollout is not None), what="first snapshot")


async def with_alerts(pilot, app, *alerts):
    """Raise alerts (fingerprint, severity, name, summary, minutes ago) and wait for the feed to show them."""
    now = datetime.now(timezone.utc)
    for fp, sev, name, summary, ago in alerts:
        await app.store.raise_alert(fp, "alertmanager", sev, name, summary, now - timedelta(minutes=ago))
    app.action_refresh()
    await wait_for(pilot, lambda: app.screen.query_one(AlertFeed).shown_count == len(alerts), what="alerts shown")


async def test_tab_moves_gates_then_alerts_then_rollout_and_back(db_url, health_server):
    base, _ = health_server
    app = make_app(make_config(db_url, base))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        screen = app.screen
        assert app.focused is screen.query_one(GatesTable)
        await pilot.press("tab")
        assert app.focused is screen.query_one(AlertFeed)
        await pilot.press("tab")
        assert app.focused is screen.query_one(RolloutPanel)
        await pilot.press("tab")
        assert app.focused is screen.query_one(GatesTable)
        await pilot.press("shift+tab")
        assert app.focused is screen.query_one(RolloutPanel)


async def test_down_selects_the_second_alert_and_k_acks_that_one(db_url, health_server):
    base, _ = health_server
    app = make_app(make_config(db_url, base))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await with_alerts(pilot, app, ("am:new", "critical", "DiskFull", "node 3", 1),
                          ("am:old", "warning", "CertExpiry", "in 9 days", 5))
        await pilot.press("tab", "down")
        assert app.screen.query_one(AlertFeed).selected.fingerprint == "am:old"
        # A new alert on top must not move the selection onto another alert.
        await with_alerts(pilot, app, ("am:new", "critical", "DiskFull", "node 3", 1),
                          ("am:old", "warning", "CertExpiry", "in 9 days", 5),
                          ("am:newest", "critical", "OOMKilled", "pod 7", 0))
        assert app.screen.query_one(AlertFeed).selected.fingerprint == "am:old"
        await pilot.press("k")
        await wait_for(pilot, lambda: acked(db_url)["am:old"][0] == "tester", what="the selected alert acked")
    state = acked(db_url)
    assert state["am:old"][1] is not None
    assert state["am:new"] == (None, None) and state["am:newest"] == (None, None)


async def test_enter_on_a_probe_gate_shows_each_targets_recent_probes_and_errors(db_url, health_server):
    base, health = health_server
    app = make_app(quick_config(db_url, base, targets=("api", "auth")))  # the failures seen sooner
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        health.status = 503  # every target fails from now on, with the reason recorded
        await wait_for(pilot, lambda: any(g.name == "checks_passing" and g.detail.startswith("0/2")
                                          for g in app.snapshot.gates), what="targets down")
        table = app.screen.query_one(GatesTable)
        table.focus()
        table.move_cursor(row=[g.name for g in app.snapshot.gates].index("checks_passing"))
        await pilot.press("enter")
        assert isinstance(app.screen, GateDetailScreen)
        summary = text_of(app, "#gate-detail-summary")
        assert "checks_passing" in summary and "metric  checks_passing" in summary and "window  1m" in summary
        assert "targets  api, auth" in summary and "higher is better" in summary
        await wait_for(pilot, lambda: "Recent probes" in text_of(app, "#gate-detail-probes"), what="probes shown")
        probes = text_of(app, "#gate-detail-probes")
        for target in ("api", "auth"):
            section = probes.split(f"\n{target}")[1].split("\n\n")[0]
            assert "✖ FAIL" in section and "HTTP 503" in section
        await pilot.press("escape")
        assert not isinstance(app.screen, GateDetailScreen)


async def test_gate_detail_says_why_when_the_database_is_down(db_url, health_server):
    from console.store.db import StoreUnavailable

    base, _ = health_server
    app = make_app(make_config(db_url, base))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)

        async def down(*a, **kw):
            raise StoreUnavailable("no connection within the timeout")

        app.store.recent_probes = down
        await pilot.press("enter")  # the gates have focus at start
        assert isinstance(app.screen, GateDetailScreen)
        await wait_for(pilot, lambda: "cannot read the recent probes" in text_of(app, "#gate-detail-probes"),
                       what="the reason shown")
        assert "no connection within the timeout" in text_of(app, "#gate-detail-probes")


async def test_enter_on_an_alert_shows_its_whole_text_and_who_acked_it(db_url, health_server):
    base, _ = health_server
    app = make_app(make_config(db_url, base))
    long = "node-3 /var is 97 % full; " * 12 + "[bold]not markup[/]"
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await with_alerts(pilot, app, ("am:disk", "critical", "DiskFull", long, 3))
        await app.store.ack_alert("am:disk", "alice")
        await pilot.press("tab", "enter")
        assert isinstance(app.screen, AlertDetailScreen)
        head = text_of(app, "#alert-detail-head")
        assert "DiskFull" in head and long in head  # the summary whole, and literal
        await wait_for(pilot, lambda: "first seen" in text_of(app, "#alert-detail-more"), what="detail read")
        more = text_of(app, "#alert-detail-more")
        assert "Alertmanager (alertmanager)" in more and "alice at" in more and "am:disk" in more
        await pilot.press("escape")
        assert not isinstance(app.screen, AlertDetailScreen)


async def test_slash_filters_the_feed_and_escape_clears_it(db_url, health_server):
    base, _ = health_server
    app = make_app(make_config(db_url, base))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await with_alerts(pilot, app, ("am:a", "critical", "DiskFull", "node 3", 1),
                          ("am:b", "warning", "CertExpiry", "in 9 days", 2),
                          ("am:c", "critical", "OOMKilled", "pod 7", 3))
        await type_keys(pilot, "slash", *keys("critical"))
        # each row: the time and its zone, then the severity, the source and the name
        assert [r.split()[2:5] for r in feed_rows(app)] == [["critical", "am", "DiskFull"], ["critical", "am", "OOMKilled"]]
        await pilot.press("enter")  # kept, and shown while it is active
        feed = app.screen.query_one(AlertFeed)
        assert app.focused is feed and app.screen.query_one(AlertFilter).display
        assert "matching “critical” (2 of 3" in feed.border_title
        await type_keys(pilot, "slash", "ctrl+u", *keys("cert"))  # by text as well
        assert len(feed_rows(app)) == 1 and "CertExpiry" in feed_rows(app)[0]
        await pilot.press("escape")
        assert len(feed_rows(app)) == 3 and not app.screen.query_one(AlertFilter).display
        assert "matching" not in feed.border_title


async def test_help_lists_each_key_once_and_says_why_advance_is_greyed(db_url, health_server):
    base, _ = health_server
    app = make_app(make_config(db_url, base))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app, rollout=True)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        listed = [key for key, _, _ in app.screen._rows]
        assert len(listed) == len(set(listed)), listed
        for key in ("a", "A", "r", "R", "h", "H", "k", "/", "tab", "enter", "?"):
            assert listed.count(key) == 1, key
        await pilot.press("escape")
        # The palette: one command per action, each saying what it does.
        commands = list(app.get_system_commands(app.screen))
        ours = [c for c in commands if "(key: " in c.help]
        assert len({c.title for c in ours}) == len(ours)
        assert len({c.help for c in ours}) == len(ours)


async def test_advance_is_greyed_out_while_it_would_be_refused(db_url, health_server):
    base, _ = health_server
    app = make_app(make_config(db_url, base))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app, rollout=True)
        await wait_for(pilot, lambda: app.snapshot.verdict.value == "GO", what="GO")
        bindings = lambda: app.screen.active_bindings  # noqa: E731
        assert bindings()["a"].enabled
        await press_then_type(pilot, "a", *keys("start"), "enter")
        await wait_for(pilot, lambda: app.snapshot.rollout.percentage == 5, what="advanced to 5 %")
        # now a 12 h soak is left: Advance is greyed out, and the key does nothing
        await wait_for(pilot, lambda: not bindings()["a"].enabled, what="Advance greyed out")
        assert bindings()["A"].enabled  # the override is what is left
        await pilot.press("a")
        assert not isinstance(app.screen, ActionDialog)
        await pilot.press("question_mark")
        help_text = app.screen.text()
        assert "refused now: soak has" in help_text and "A overrides" in help_text
