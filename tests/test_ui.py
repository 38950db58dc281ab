"""The console driven as a user drives it (Textual's Pilot), against a real database
and a real HTTP endpoint; assertions on what is on screen and in the database."""
import functools
from datetime import datetime, timezone

import psycopg
import pytest

from console.app import make_app
from console.screens.help import HelpScreen
from widgets.alert_feed import AlertFeed
from widgets.burn_in_panel import BurnInPanel
from widgets.gates_table import GatesTable
from widgets.rollout_panel import RolloutPanel
from widgets.verdict_banner import VerdictBanner

from .conftest import make_config, quick_config, until, wait_for

SIZE = (120, 36)


@pytest.fixture
def quick_pool_timeout(monkeypatch):
    """The console's store waits 1 s for a connection rather than 3 s (as in the engine
    tests): a database that is away is found so sooner; what the screen says is the same."""
    from console import runtime
    from console.store.db import Store

    monkeypatch.setattr(runtime, "Store", functools.partial(Store, connect_timeout=1))


def banner(app) -> str:
    return app.screen.query_one(VerdictBanner).render_text().plain


def gate_cells(app, name) -> list[str]:
    table = app.screen.query_one(GatesTable)
    return [getattr(c, "plain", str(c)) for c in table.get_row(name)]


async def test_dashboard_shows_every_panel_from_real_sources(db_url, health_server):
    base, _ = health_server
    app = make_app(make_config(db_url, base, targets=("api", "auth")))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.verdict.value == "GO", what="GO")
        await until(pilot, lambda: "all gates green" in banner(app) and app.screen.query_one(GatesTable).row_count == 3)
        text = banner(app)
        assert text.split("\n")[0] == "GO" and "all gates green" in text and "phase_4_deployment at 0 %" in text
        cells = gate_cells(app, "checks_passing")
        assert cells[1] == "100 %" and "GREEN" in cells[2] and cells[5] == "1m" and "2/2 healthy" in cells[6]
        assert gate_cells(app, "error_rate")[4] == "<0.1/>1"
        ladder = app.screen.query_one(RolloutPanel).query_one("#ladder").render().plain
        assert ladder.startswith("[0] → 5 → 10") and ladder.endswith("100 %")
        burn = app.screen.query_one(BurnInPanel).render().plain
        assert "review in" in burn and "clean days" in burn
        # help lists every key; Esc closes it
        await pilot.press("question_mark")  # (drawn maybe after the key press returned, on a loaded machine)
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen)
                       and "Quit" in app.screen.query_one("#help-box").query_one("Static").render().plain,
                       timeout=5, what="the help screen")
        help_text = app.screen.query_one("#help-box").query_one("Static").render().plain
        for words in ("Quit", "Help", "Ack alert", "Command palette"):
            assert words in help_text
        assert "Demo:" not in help_text  # demo keys only in the demo
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), timeout=5, what="the help screen closed")


async def test_failing_endpoint_turns_the_verdict_to_rollback_on_screen(db_url, health_server):
    base, state = health_server
    app = make_app(quick_config(db_url, base))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.verdict.value == "GO", what="GO")
        state.status = 503
        await wait_for(pilot, lambda: "ROLLBACK" in banner(app), what="ROLLBACK on screen")
        assert "error_rate red" in banner(app)
        await until(pilot, lambda: "RED" in gate_cells(app, "error_rate")[2])
        assert "RED" in gate_cells(app, "error_rate")[2]
        assert "HTTP 503" not in banner(app)  # the reason is the gate's, shown in its row
        await wait_for(pilot, lambda: any(a.name == "error_rate red" for a in app.screen.query_one(AlertFeed)._shown or ()),
                       what="alert in the feed")


async def test_ack_key_acknowledges_the_newest_alert_in_the_database(db_url, health_server):
    base, _ = health_server
    app = make_app(make_config(db_url, base))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.store is not None, what="first snapshot")
        await app.store.raise_alert("am:1", "alertmanager", "critical", "DiskFull", "node 3", datetime.now(timezone.utc))
        app.action_refresh()
        await wait_for(pilot, lambda: bool(app.snapshot.alerts), what="alert shown")
        await pilot.press("k")
        await wait_for(pilot, lambda: app.snapshot.alerts and app.snapshot.alerts[0].acked, what="acked on screen")
    with psycopg.connect(db_url) as c:
        assert c.execute("select acked_by from gonogo.alerts where fingerprint = 'am:1'").fetchone()[0] == "tester"


async def test_database_stopped_marks_the_screen_stale_and_recovers(stoppable_pg, health_server, quick_pool_timeout):
    base, _ = health_server
    app = make_app(quick_config(stoppable_pg.url, base))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.verdict.value == "GO", what="GO")
        stoppable_pg.stop()
        await wait_for(pilot, lambda: "DATABASE UNAVAILABLE" in banner(app), what="STALE banner")
        await until(pilot, lambda: "STALE" in gate_cells(app, "error_rate")[2]
                    and app.screen.query_one("#rollout").border_subtitle.strip() == "STALE")
        assert "STALE" in gate_cells(app, "error_rate")[2]
        assert gate_cells(app, "error_rate")[1] == "0.000 %"  # last known value kept
        assert app.screen.query_one("#rollout").border_subtitle.strip() == "STALE"
        assert banner(app).split("\n")[0] == "HOLD"  # stale data is never GO
        stoppable_pg.start()
        await wait_for(pilot, lambda: "DATABASE UNAVAILABLE" not in banner(app) and app.snapshot.verdict.value == "GO",
                       timeout=30, what="recovery")
        assert app.screen.query_one("#rollout").border_subtitle == ""


async def test_console_starts_while_the_database_is_down_and_says_so(health_server, quick_pool_timeout):
    base, _ = health_server
    app = make_app(make_config("postgresql://gonogo:hunter2@127.0.0.1:1/none", base))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "database unavailable" in banner(app), what="startup fault shown")
        assert "hunter2" not in banner(app)
        assert app.is_running
