"""Rollout control from the keyboard: a, h, r with their confirmations, asserting the
screen and the database; two consoles on one database see each other's changes."""

import psycopg

from console.app import make_app
from console.screens.dialogs.action import ActionDialog
from console.screens.dialogs.message import MessageDialog
from console.screens.history import HistoryScreen

from .conftest import keys, make_config, other_console_acts, press_then_type, type_keys, wait_for

SIZE = (120, 36)
FLAG = "phase_4_deployment"



def state(db_url):
    with psycopg.connect(db_url) as c:
        return c.execute("select percentage, state, version from gonogo.rollout_state where flag = %s", (FLAG,)).fetchone()


def events(db_url):
    with psycopg.connect(db_url) as c:
        return c.execute("select operator, action, from_pct, to_pct, reason, override from gonogo.rollout_events order by id").fetchall()


def dialog_text(app) -> str:
    return " ".join(str(w.render()) for w in app.screen.query("Static"))


async def dialog_says(pilot, app, *needles: str) -> None:
    """Wait until the action dialog is on screen saying every one of `needles`: on a
    loaded machine it may be drawn after the key press has returned."""
    await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog) and all(n in dialog_text(app) for n in needles),
                   timeout=5, what=f"the dialog saying {needles}")


async def ready(pilot, app):
    await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.rollout is not None
                   and app.snapshot.verdict.value == "GO" and app.engine is not None, what="GO with rollout state")


async def test_advance_with_a_reason_then_override_needs_the_flag_typed(db_url, health_server):
    base, _ = health_server
    app = make_app(make_config(db_url, base))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("a")
        await dialog_says(pilot, app, "will do: 0 % → 5 % of phase_4_deployment", "verdict now:  GO")
        await pilot.press("enter")  # a stray Enter: no reason, nothing happens
        await dialog_says(pilot, app, "a reason is required")
        await type_keys(pilot, *keys("canary clean"), "enter")
        await wait_for(pilot, lambda: state(db_url)[0] == 5, what="advanced in the database")
        assert events(db_url) == [("tester", "advance", 0, 5, "canary clean", False)]
        await wait_for(pilot, lambda: app.snapshot.rollout.percentage == 5, what="shown")
        # the 12 h soak has not elapsed: `a` is greyed out; `A` opens the override
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog) and "OVERRIDE" in dialog_text(app) and (
            "refused now: soak has 11h 59m left" in dialog_text(app) or "refused now: soak has 12h" in dialog_text(app)),
            timeout=5, what="the dialog refusing for the soak, offering an override")
        await type_keys(pilot, *keys("review board said go"), "enter")  # Enter moves to the confirmation
        await type_keys(pilot, *keys("phase_4"), "enter")  # not the full flag name
        await dialog_says(pilot, app, "type the flag name")
        assert state(db_url)[0] == 5
        await type_keys(pilot, *keys("_deployment"), "enter")
        await wait_for(pilot, lambda: state(db_url)[0] == 10, what="override applied")
        assert events(db_url)[-1] == ("tester", "advance", 5, 10, "review board said go", True)


async def test_rollback_needs_the_flag_name_and_escape_cancels(db_url, health_server):
    base, _ = health_server
    app = make_app(make_config(db_url, base, rollout={"soak": "0s"} if False else {}))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await press_then_type(pilot, "a", *keys("start"), "enter")
        await wait_for(pilot, lambda: state(db_url)[0] == 5, what="at 5 %")
        await pilot.press("r")
        await dialog_says(pilot, app, "will do: 5 % → 0 % of phase_4_deployment (at once)")
        await type_keys(pilot, *keys("oops"), "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ActionDialog), timeout=5, what="the dialog closed")
        assert state(db_url)[:2] == (5, "soaking")
        await press_then_type(pilot, "r", *keys("p95 climbing"), "enter", *keys(FLAG), "enter")
        await wait_for(pilot, lambda: state(db_url)[1] == "rolled_back", what="rolled back")
        assert state(db_url)[0] == 0 and events(db_url)[-1][1:5] == ("rollback", 5, 0, "p95 climbing")
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen)
                       and app.screen.query_one("DataTable").row_count == 2, what="history rows")
        await pilot.press("escape")


async def test_hold_then_resume_with_h(db_url, health_server):
    base, _ = health_server
    app = make_app(make_config(db_url, base))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("h")
        await dialog_says(pilot, app, "refused now: nothing to hold")
        await pilot.press("escape")
        await press_then_type(pilot, "a", *keys("go"), "enter")
        await wait_for(pilot, lambda: app.snapshot.rollout.state == "soaking", what="soaking")
        await press_then_type(pilot, "h", *keys("investigating p95"), "enter")
        await wait_for(pilot, lambda: state(db_url)[1] == "held" and app.snapshot.rollout.state == "held", what="held")
        await pilot.press("h")
        await dialog_says(pilot, app, "resume phase_4_deployment at 5 %")
        await type_keys(pilot, *keys("false alarm"), "enter")
        await wait_for(pilot, lambda: state(db_url)[1] == "soaking", what="resumed")


async def test_a_change_made_elsewhere_shows_within_a_second_and_a_stale_view_is_refused(db_url, health_server):
    base, _ = health_server
    config = make_config(db_url, base)
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("a")  # the operator opens the dialog, looking at 0 % ...
        # ... while someone else advances from another console (another process)
        assert other_console_acts(db_url, operator="bob", reason="me first") == "done"
        import time

        t0 = time.monotonic()
        await wait_for(pilot, lambda: app.snapshot.rollout.percentage == 5, timeout=5, what="bob's change shown")
        assert time.monotonic() - t0 < 1.5
        await type_keys(pilot, *keys("my view is old"), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MessageDialog), what="refusal dialog")
        text = dialog_text(app)
        assert "you saw version 1, but bob did advance 0 % → 5 %" in text
        assert state(db_url)[0] == 5 and len(events(db_url)) == 1


async def test_two_consoles_on_one_database_see_each_others_changes(db_url, health_server):
    base, _ = health_server
    one, two = make_app(make_config(db_url, base)), make_app(make_config(db_url, base, console={"operator": "carol", "refresh": "1s"}))
    async with one.run_test(size=SIZE) as p1, two.run_test(size=SIZE) as p2:
        await ready(p1, one)
        await ready(p2, two)
        await press_then_type(p1, "a", *keys("from console one"), "enter")
        await wait_for(p2, lambda: two.snapshot.rollout.percentage == 5, timeout=5, what="console two sees it")
        await press_then_type(p2, "h", *keys("carol holds"), "enter")
        await wait_for(p1, lambda: one.snapshot.rollout.state == "held", timeout=5, what="console one sees the hold")
    assert [e[0] for e in events(db_url)] == ["tester", "carol"]


async def test_read_only_console_cannot_act(db_url, health_server):
    base, _ = health_server
    app = make_app(make_config(db_url, base, console={"read_only": True, "refresh": "1s", "operator": "x"}))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("a", "r", "h")
        assert not isinstance(app.screen, ActionDialog)
        assert state(db_url) is None  # nothing acted, and a read writes nothing: no row yet


async def test_actuator_failure_is_shown_not_pretended_and_R_retries(db_url, health_server, tmp_path):
    import json

    from widgets.rollout_panel import RolloutPanel

    base, _ = health_server
    flags = tmp_path / "feature_flags.json"
    flags.write_text("{ this is not json")  # the actuator must refuse to overwrite it
    app = make_app(make_config(db_url, base, actuator={"type": "file", "file": str(flags)}))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await press_then_type(pilot, "a", *keys("start"), "enter")
        panel_text = lambda: str(app.screen.query_one(RolloutPanel).query_one("#state").render())  # noqa: E731
        await wait_for(pilot, lambda: "NOT APPLIED" in panel_text(), what="failure on screen")
        assert "not overwriting" in panel_text()
        assert app.last_action.actuation == "failed"
        with psycopg.connect(db_url) as c:
            assert c.execute("select percentage, actuation from gonogo.rollout_state").fetchone() == (5, "failed")
            assert c.execute("select count(*) from gonogo.alerts where fingerprint like 'rollout:actuation:%%'"
                             " and resolved_at is null").fetchone()[0] == 1
        flags.write_text("{}")  # someone fixes the file
        await pilot.press("R")
        await wait_for(pilot, lambda: "NOT APPLIED" not in panel_text(), what="applied after retry")
        assert json.loads(flags.read_text())[FLAG]["rollout_percentage"] == 5


async def test_an_action_and_a_decision_on_a_stale_screen_are_refused_saying_how_old_it_is():
    """Both paths share the App's one staleness check: refused with a dialog that
    says how old the evaluation is and that nothing was done (no engine is reached)."""
    from datetime import timedelta

    from checks.models import ActionRequest, ReviewDecision, Verdict
    from console.screens.dialogs.message import MessageDialog

    from .test_snapshots import NOW, _app, fixed_snapshot

    app, show = _app(fixed_snapshot().model_copy(update={"at": NOW - timedelta(minutes=5)}))
    async with app.run_test(size=(120, 36)) as pilot:
        await show(pilot)
        await app._act(ActionRequest(action="hold", reason="looking", seen_version=7, seen_verdict=Verdict.ROLLBACK))
        await pilot.pause(0.1)
        assert isinstance(app.screen, MessageDialog) and app.screen.title_text == "Refused: the screen is stale"
        assert "300 s old" in app.screen.body and "Nothing was changed or queued." in app.screen.body
        app.pop_screen()
        await app._record_review(ReviewDecision(decision="NO-GO", reason="not yet"))
        await pilot.pause(0.1)
        assert isinstance(app.screen, MessageDialog) and "Nothing was recorded." in app.screen.body
    assert app.last_action is None  # neither reached the controller
