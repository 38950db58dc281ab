"""Loud events (issue 12, item 2): an auto-rollback, a rollout not applied and a new
critical alert ring the bell once and stay on every console's banner until someone
acknowledges them; the banner says what the gates recommend apart from what the
rollout is. The decisions (checks.notices) are tested as values; the console with
Pilot, against a real database and a real health endpoint."""
import time
from datetime import timedelta

import psycopg
import pytest

from checks.models import Alert, AuditEvent, RolloutView, Snapshot, Verdict
from checks.notices import NewEvents, banner_lines, loud_notices, stance
from checks.rollout import Transition
from console.app import make_app
from console.config import ConfigError, parse_config
from console.messages import SnapshotUpdated
from console.rollout import preview
from widgets.verdict_banner import VerdictBanner

from .conftest import keys, make_config, press_then_type, wait_for
from .test_engine import _auto_config as engine_auto_config
from .test_snapshots import NOW, _app, fixed_snapshot

FLAG = "phase_4_deployment"
STEPS = (0, 5, 10, 25, 50, 75, 100)
QUIET = {"auto_rollback": {"enabled": False}}


@pytest.fixture(autouse=True)
def _utc(utc_tz):
    """Times on screen in UTC, whatever this machine's zone."""


def view(pct=25, state="soaking", left=3 * 3600 + 12 * 60, **kw) -> RolloutView:
    soak = 12 * 3600
    return RolloutView(flag=FLAG, steps=STEPS, percentage=pct, state=state, version=7,
                       stage_started_at=NOW - timedelta(seconds=soak - left), soak_seconds=soak,
                       soak_elapsed_seconds=soak - left, as_of=NOW, **kw)


def auto_alert(first=NOW, acked=False) -> Alert:
    return Alert(at=first, first_at=first, source="rollout", severity="critical", name="auto-rollback",
                 summary="rolled back: 10 % → 0 % of phase_4_deployment (at once) by gonogo auto-rollback (…)",
                 fingerprint=f"rollout:auto_rollback:{FLAG}", acked=acked)


def auto_event(at=NOW - timedelta(seconds=1)) -> AuditEvent:
    return AuditEvent(at=at, operator="gonogo auto-rollback", action="rollback", from_pct=10, to_pct=0,
                      reason="auto-rollback: error_rate red (> 1) sustained for 5m over 21 evaluations; last 1.80 %",
                      verdict="ROLLBACK", automatic=True)


# -- the banner's two statements, as values ---------------------------------------------


def test_go_with_soak_left_says_advance_is_not_allowed_yet_and_why():
    s = stance(Verdict.GO, (), view(left=3 * 3600 + 12 * 60), NOW)
    assert s.gates == "GO: all gates green"
    assert not s.advance_allowed
    assert s.rollout == "advance not allowed yet: soak has 3h 12m left"
    done = stance(Verdict.GO, (), view(left=0), NOW)
    assert done.advance_allowed and done.rollout == "advance allowed: 25 % → 50 %"


def test_rollback_reads_as_a_recommendation_before_and_as_a_fact_after():
    before = stance(Verdict.ROLLBACK, ("error_rate red (1.80 %)",), view(), NOW)
    assert before.note == "recommended" and before.gates == "ROLLBACK recommended: error_rate red (1.80 %)"
    assert not before.rolled_back and "ROLLED BACK" not in before.rollout
    after = stance(Verdict.ROLLBACK, ("error_rate red (1.80 %)",),
                   view(pct=0, state="rolled_back", left=12 * 3600, updated_by="gonogo auto-rollback"), NOW)
    assert after.rolled_back and "recommended" not in after.gates and after.note == "at 0 %"
    assert after.rollout.startswith("ROLLED BACK to 0 % at 03:12:05 UTC by gonogo auto-rollback;")
    assert after.rollout.endswith("advance not allowed: verdict ROLLBACK")


def test_held_and_complete_say_so():
    assert stance(Verdict.GO, (), view(state="held"), NOW).rollout == (
        "HELD at 25 %; advance not allowed yet: the rollout is held: resume it first")
    assert stance(Verdict.GO, (), view(pct=100, state="complete"), NOW).rollout == "complete at 100 %"


@pytest.mark.parametrize("verdict", list(Verdict))
@pytest.mark.parametrize("state,pct,left", [("soaking", 25, 600), ("soaking", 25, 0), ("held", 25, 0),
                                            ("idle", 0, 12 * 3600), ("rolled_back", 0, 12 * 3600),
                                            ("complete", 100, 0), ("soaking", 75, 0)])
def test_the_banner_allows_an_advance_exactly_when_the_dialog_would(verdict, state, pct, left):
    v = view(pct=pct, state=state, left=left)
    snap = Snapshot(at=NOW, verdict=verdict, rollout=v)
    config = parse_config(QUIET)
    assert snap.stance.advance_allowed == isinstance(preview("advance", snap, config, NOW), Transition)


# -- which loud events show, and their words ----------------------------------------------


def test_an_auto_rollback_reads_from_its_audit_event():
    (n,) = loud_notices([auto_alert()], view(pct=0, state="rolled_back"), auto_event())
    assert n.kind == "auto_rollback"
    assert n.text == ("AUTO-ROLLED BACK 10 % → 0 % at 03:12:04 UTC: error_rate red (> 1) sustained for 5m over"
                      " 21 evaluations; last 1.80 %")
    # an automatic rollback long before this alert is another one: the alert's own words
    (old,) = loud_notices([auto_alert()], None, auto_event(at=NOW - timedelta(hours=2)))
    assert old.text.startswith("AUTO-ROLLED BACK at 03:12:05 UTC: rolled back: 10 % → 0 %")


def test_acknowledged_or_quiet_alerts_make_no_notice_and_the_order_is_loudest_first():
    alerts = [
        Alert(at=NOW, source="alertmanager", severity="P1", name="DiskFull", summary="node 3", fingerprint="am:1"),
        Alert(at=NOW, source="rule", severity="warning", name="5xx burst", fingerprint="rule:5xx"),
        Alert(at=NOW, source="rule", severity="critical", name="error_rate red", fingerprint="rule:gate:x", acked=True),
        Alert(at=NOW - timedelta(minutes=1), source="rollout", severity="critical", name="rollout not applied",
              summary="phase_4_deployment at 5 % did not reach the system: refused", fingerprint=f"rollout:actuation:{FLAG}"),
        auto_alert(first=NOW - timedelta(minutes=2)),
    ]
    notices = loud_notices(alerts)
    assert [n.kind for n in notices] == ["auto_rollback", "actuation", "critical"]
    assert notices[1].text == ("NOT APPLIED since 03:11:05 UTC: phase_4_deployment at 5 % did not reach the"
                               " system: refused")
    assert notices[2].text == "CRITICAL DiskFull at 03:12:05 UTC: node 3"
    assert loud_notices([auto_alert(acked=True)]) == ()


def test_more_notices_than_room_fold_into_the_last_line():
    alerts = [Alert(at=NOW - timedelta(seconds=i), source="am", severity="critical", name=f"A{i}", fingerprint=f"f{i}")
              for i in range(5)]
    lines = banner_lines(loud_notices(alerts), room=3)
    assert len(lines) == 3 and lines[0].startswith("CRITICAL A0")
    assert lines[2] == "+ 3 more unacknowledged: A2, A3, A4 (see the alerts)"


def test_an_event_rings_once_and_not_for_what_was_there_at_start():
    heard = NewEvents()
    before = loud_notices([auto_alert(first=NOW - timedelta(hours=1))])
    assert heard.new(before) == ()  # the console's first look: all of it happened before it started
    assert heard.new(before) == ()
    crit = Alert(at=NOW, source="am", severity="critical", name="DiskFull", fingerprint="am:1")
    assert [n.name for n in heard.new(loud_notices([crit, auto_alert(first=NOW - timedelta(hours=1))]))] == ["DiskFull"]
    assert heard.new(loud_notices([crit])) == ()  # the same event, snapshot after snapshot
    again = crit.model_copy(update={"first_at": NOW + timedelta(minutes=5)})  # resolved, then raised again
    assert len(heard.new(loud_notices([again]))) == 1


def test_bell_is_a_strict_bool_on_by_default():
    assert parse_config(QUIET).console.bell is True
    assert parse_config({**QUIET, "console": {"bell": False}}).console.bell is False
    with pytest.raises(ConfigError, match=r"\[console\], key 'bell'"):
        parse_config({**QUIET, "console": {"bell": "yes"}}, path="x.toml")


# -- the console ---------------------------------------------------------------------------


def banner(app) -> str:
    return app.screen.query_one(VerdictBanner).render_text().plain


def spy_bell(app) -> list[float]:
    rung: list[float] = []
    app.bell = lambda: rung.append(time.monotonic())
    return rung


async def test_banner_for_go_with_soak_left_and_rollback_before_and_after():
    go = fixed_snapshot().model_copy(update={"verdict": Verdict.GO, "reasons": (), "alerts": ()})
    app, show = _app(go)
    async with app.run_test(size=(120, 36)) as pilot:
        await show(pilot)
        text = banner(app)
        assert text.split("\n")[0] == "GO"
        assert "advance not allowed yet: soak has 3h 12m left" in text and "advance allowed" not in text
        app.snapshot = fixed_snapshot()  # red gates, 25 % soaking: nothing done yet
        await pilot.pause(0.1)
        assert banner(app).split("\n")[:2] == ["ROLLBACK", "recommended"]
        assert "ROLLBACK recommended: error_rate red (1.80 %)" in banner(app)
        app.snapshot = fixed_snapshot().model_copy(update={"rollout": view(
            pct=0, state="rolled_back", left=12 * 3600, updated_by="gonogo auto-rollback")})
        await pilot.pause(0.1)
        text = banner(app)
        assert "recommended" not in text
        assert "ROLLED BACK to 0 % at 03:12:05 UTC by gonogo auto-rollback" in text


async def test_the_bell_rings_once_per_new_event_and_bell_false_is_silent():
    for bell in (True, False):
        app = make_app(parse_config({**QUIET, "console": {"bell": bell}}), clock=lambda: NOW, start_engine=False)
        async with app.run_test(size=(120, 36)) as pilot:
            rung = spy_bell(app)
            old = fixed_snapshot()  # an unacknowledged critical alert, already there at start
            app.post_message(SnapshotUpdated(old))
            await pilot.pause(0.1)
            assert rung == [] and "CRITICAL error_rate red" in banner(app)
            with_auto = old.model_copy(update={"alerts": (auto_alert(),) + old.alerts, "auto_rollback_event": auto_event()})
            for _ in range(3):  # the same event in snapshot after snapshot
                app.post_message(SnapshotUpdated(with_auto))
                await pilot.pause(0.05)
            assert len(rung) == (1 if bell else 0)
            assert "AUTO-ROLLED BACK 10 % → 0 % at 03:12:04 UTC" in banner(app)


def _auto_config(db_url, base):
    # As tests/test_engine.py's sustained-breach tests, with the 1-hour error-rate rule
    # kept quiet, so the loud events are the red gate's critical alert and the auto-rollback.
    return engine_auto_config(
        db_url, base, alerts={"cost_query": "", "events_query": "", "interval": "250ms", "error_rate_1h": 100.0})


def _rollout_at_10(db_url):
    with psycopg.connect(db_url) as c:
        c.execute("insert into gonogo.rollout_state (flag, percentage, state, version, stage_started_at, soak_resumed_at)"
                  " values (%s, 10, 'soaking', 5, now(), now())"
                  " on conflict (flag) do update set percentage = 10, state = 'soaking', version = 5,"
                  " stage_started_at = now(), soak_resumed_at = now()", (FLAG,))


def _auto_alert_acked(db_url) -> bool:
    with psycopg.connect(db_url) as c:
        row = c.execute("select acked_at is not null from gonogo.alerts where fingerprint = %s",
                        (f"rollout:auto_rollback:{FLAG}",)).fetchone()
    return bool(row and row[0])


async def test_a_real_auto_rollback_rings_once_shows_on_every_console_and_an_ack_clears_it(db_url, health_server):
    base, state = health_server
    config = _auto_config(db_url, base)
    app = make_app(config)
    async with app.run_test(size=(120, 36)) as pilot:
        rung = spy_bell(app)
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.verdict is Verdict.GO
                       and app.snapshot.rollout is not None, what="GO")
        _rollout_at_10(db_url)
        app.action_refresh()
        await wait_for(pilot, lambda: app.snapshot.rollout.percentage == 10, what="the rollout at 10 %")
        state.status = 503
        await wait_for(pilot, lambda: "ROLLBACK recommended" in banner(app), what="the recommendation")
        assert "AUTO-ROLLED BACK" not in banner(app) and "advance not allowed" in banner(app)
        await wait_for(pilot, lambda: "CRITICAL error_rate red" in banner(app), what="the red gate's critical alert")
        await pilot.pause(0.3)
        assert len(rung) == 1  # the red gate's alert: one event, one ring
        await wait_for(pilot, lambda: "AUTO-ROLLED BACK 10 % → 0 % at " in banner(app), timeout=30,
                       what="AUTO-ROLLED BACK on the banner")
        text = banner(app)
        assert "UTC: error_rate red (> 1) sustained for 3s over" in text
        assert "ROLLED BACK to 0 %" in text and "recommended" not in text
        await pilot.pause(1.5)  # six more snapshots with the same events on them
        assert len(rung) == 2  # ... and the auto-rollback rang once

        # A second console on the same database shows the same line, and does not ring
        # for what happened before it started.
        other = make_app(config)
        async with other.run_test(size=(120, 36)) as pilot2:
            rung2 = spy_bell(other)
            await wait_for(pilot2, lambda: other.snapshot is not None and "AUTO-ROLLED BACK 10 % → 0 %" in banner(other),
                           what="the line on the second console")
            await pilot2.pause(0.5)
            assert rung2 == []
            await pilot2.press("k")  # the newest open alert: the auto-rollback's
            await wait_for(pilot2, lambda: _auto_alert_acked(db_url), what="the ack in the database")
            await wait_for(pilot2, lambda: "AUTO-ROLLED BACK" not in banner(other), what="the line cleared here")
            await wait_for(pilot, lambda: "AUTO-ROLLED BACK" not in banner(app), what="... and on the first console")
        assert "ROLLED BACK to 0 %" in banner(app)  # the fact stays; only the loud line goes
        assert len(rung) == 2


async def test_an_actuator_failure_rings_and_stays_until_it_is_applied(db_url, health_server, tmp_path):
    from .test_ui_rollout import ready

    base, _ = health_server
    flags = tmp_path / "feature_flags.json"
    flags.write_text("{ this is not json")  # the file actuator refuses to overwrite it
    app = make_app(make_config(db_url, base, actuator={"type": "file", "file": str(flags)}))
    async with app.run_test(size=(120, 36)) as pilot:
        rung = spy_bell(app)
        await ready(pilot, app)
        await press_then_type(pilot, "a", *keys("start"), "enter")
        await wait_for(pilot, lambda: "NOT APPLIED since" in banner(app), what="the loud line")
        assert "phase_4_deployment at 5 % did not reach the system" in banner(app)
        await pilot.pause(1.2)
        assert len(rung) == 1
        flags.write_text("{}")  # someone fixes the file, and retries
        await pilot.press("R")
        await wait_for(pilot, lambda: "NOT APPLIED" not in banner(app), what="the line gone once applied")
        assert len(rung) == 1
