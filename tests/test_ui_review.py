"""The go/no-go review by keys (issue 13) on a demo-seeded database: `v`, the criteria
one by one with their evidence, marks and a note, `d`, the decision; the review is
in the audit trail with each criterion's mark, and the trail still verifies."""
from __future__ import annotations

import asyncio

import psycopg

from console.app import make_app
from console.screens.dialogs.review_decision import ReviewDecisionDialog
from console.screens.history import HistoryScreen
from console.screens.review import ReviewScreen
from console.store.sandbox import grant_reader

from .conftest import keys, make_config, press_then_type, wait_for

SIZE = (120, 40)
FLAG = "phase_4_deployment"
STEPS = [0, 5, 10, 25, 50, 75, 100]
CRITERIA = ["error_rate", "p1_incidents_7d", "daily_cost"]


async def seeded(db_url) -> None:
    from console.demo.seed import seed

    await seed(db_url, ["api", "auth"], FLAG, STEPS)
    await asyncio.to_thread(grant_reader, db_url)  # as `gonogo demo` does after seeding


def config(db_url, base):
    gates = [
        {"name": "error_rate", "source": "probe", "window": "5m"},
        {"name": "p95_latency", "source": "probe", "window": "5m"},
        {"name": "p1_incidents_7d", "source": "sql", "interval": "1s", "green": "<= 0", "red": ">= 1",
         "query": "select count(*) from demo.incidents where severity = 'P1'"
                  " and opened_at > now() - interval '7 days'",
         "evidence": "select severity, title from demo.incidents order by opened_at desc"},
        {"name": "daily_cost", "source": "sql", "interval": "1s", "unit": "$", "green": "<= 10", "red": "> 12",
         "query": "select coalesce(sum(dollars), 0) from demo.costs where day = current_date"},
    ]
    return make_config(db_url, base, targets=("api", "auth"), gates=gates, review={"criteria": CRITERIA})


def reviews(db_url):
    with psycopg.connect(db_url) as c:
        return c.execute("select operator, from_pct, to_pct, override, reason, review from gonogo.rollout_events"
                         " where action = 'review' order by id").fetchall()


def screen_text(app) -> str:
    return " ".join(str(w.render()) for w in app.screen.query("Static"))


async def open_review(pilot, app):
    await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.rollout is not None
                   and app.engine is not None and {"p1_incidents_7d", "daily_cost"} <= {
                       g.name for g in app.snapshot.gates if g.value is not None}, what="the gates evaluated")
    await pilot.press("v")
    await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), timeout=5, what="the review screen")
    return app.screen


async def test_a_whole_review_by_keys_is_recorded_with_each_mark_and_the_trail_verifies(store, db_url, health_server):
    base, _ = health_server
    await seeded(db_url)
    app = make_app(config(db_url, base))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(pilot, app)
        assert [m.gate for m in screen.marks] == CRITERIA and not any(m.accepted for m in screen.marks)
        # Enter: the evidence of error_rate, its week charted with the demo's advances on it
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.evidence is not None and screen.evidence.gate == "error_rate",
                       what="error_rate's evidence")
        assert screen.evidence.chart.window == "7d" and screen.evidence.chart.points
        assert [a.action for a in screen.evidence.actions] == ["advance"] * len(screen.evidence.actions)
        assert screen.evidence.actions and screen.evidence.failed_total is not None
        assert "The rollout's actions in the period" in screen_text(app)
        await pilot.press("space")  # error_rate accepted
        await pilot.press("down", "enter")  # p1_incidents_7d: the incidents behind its count
        await wait_for(pilot, lambda: screen.evidence.gate == "p1_incidents_7d", what="p1's evidence")
        assert screen.evidence.table.columns == ("severity", "title")
        assert ("P2", "search reindex slowed queries") in screen.evidence.table.rows
        assert "search reindex slowed queries" in screen_text(app)
        await pilot.press("space", "down", "space")  # p1 and daily_cost accepted
        await press_then_type(pilot, "n", *keys("checked the invoices"), "enter")
        await wait_for(pilot, lambda: screen.marks[2].note == "checked the invoices", timeout=5, what="the note")
        assert all(m.accepted for m in screen.marks)
        assert "3 of 3 accepted" in screen_text(app)

        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewDecisionDialog), timeout=5, what="the dialog")
        await pilot.press("enter", "enter")  # stray Enters: nothing typed, nothing recorded
        await wait_for(pilot, lambda: "type the decision" in screen_text(app), timeout=5, what="asks for GO/NO-GO")
        assert reviews(db_url) == []
        await pilot.press(*keys("GO"), "enter", *keys("burn-in clean"), "enter", *keys("ana, bo"), "enter")
        await wait_for(pilot, lambda: len(reviews(db_url)) == 1, what="the review recorded")
        await wait_for(pilot, lambda: not isinstance(app.screen, (ReviewScreen, ReviewDecisionDialog)), timeout=5,
                       what="back on the dashboard")
        [(operator, f, t, override, reason, rec)] = reviews(db_url)
        assert (operator, f, t, override, reason) == ("tester", 10, 10, False, "burn-in clean")
        assert rec["decision"] == "GO" and rec["present"] == "ana, bo"
        marks = {m["gate"]: m for m in rec["criteria"]}
        assert list(marks) == CRITERIA and all(m["accepted"] for m in marks.values())
        assert marks["daily_cost"]["note"] == "checked the invoices" and marks["daily_cost"]["value"] is not None
        report = await app.engine.controller.verify_audit()
        assert report.verified, report.problems

        await pilot.press("H")  # the audit trail shows the decision and its marks
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen)
                       and app.screen.query_one("DataTable").row_count > 1, timeout=5, what="the trail")
        table = app.screen.query_one("DataTable")
        newest = [str(c) for c in table.get_row_at(0)]
        assert newest[2] == "review GO" and "✔ daily_cost (checked the invoices)" in newest[6]


async def test_go_over_a_criterion_not_accepted_asks_for_the_override_and_records_it(store, db_url, health_server):
    base, _ = health_server
    await seeded(db_url)
    app = make_app(config(db_url, base))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(pilot, app)
        await pilot.press("space", "down", "space")  # daily_cost never marked
        await wait_for(pilot, lambda: [m.accepted for m in screen.marks] == [True, True, False], timeout=5,
                       what="two marks")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewDecisionDialog), timeout=5, what="the dialog")
        dialog = app.screen
        assert not dialog.query_one("#confirm").display
        await pilot.press(*keys("GO"))
        await wait_for(pilot, lambda: dialog.query_one("#confirm").display, timeout=5, what="the override asked")
        assert "OVERRIDE: GO although these are not accepted: daily_cost" in screen_text(app)
        await pilot.press("enter", *keys("cost is a billing lag"), "enter", "enter", *keys("phase_4"), "enter")
        await wait_for(pilot, lambda: "type the flag name" in screen_text(app), timeout=5, what="flag name asked")
        assert reviews(db_url) == []
        await pilot.press(*keys("_deployment"), "enter")
        await wait_for(pilot, lambda: len(reviews(db_url)) == 1, what="the review recorded")
        [(_, _, _, override, reason, rec)] = reviews(db_url)
        assert override is True and reason == "cost is a billing lag" and rec["decision"] == "GO"
        assert [m["accepted"] for m in rec["criteria"]] == [True, True, False]
        assert (await app.engine.controller.verify_audit()).verified


async def test_a_week_of_failures_is_counted_whole_and_its_newest_are_listed(store, db_url, health_server):
    """Failures spread over days, long behind the newest probes of their targets (which
    pass): the review counts every one of the period and lists the newest, saying so."""
    from datetime import datetime, timedelta, timezone

    from checks.models import ProbeResult
    from checks.times import time_text

    base, _ = health_server
    await seeded(db_url)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    failed = [ProbeResult(target="api", at=now - timedelta(hours=1, seconds=7) - i * timedelta(minutes=30), ok=False,
                          status=503, reason="HTTP 503") for i in range(120)]
    await store.insert_probes(failed)
    start = (now - timedelta(days=7)).replace(minute=0, second=0)
    with psycopg.connect(db_url) as c:
        total = c.execute("select count(*) from gonogo.probe_results where target in ('api', 'auth') and not ok"
                          " and at >= %s", (start,)).fetchone()[0]
    assert total >= 120 + 1  # and the seeded week's own blip
    app = make_app(config(db_url, base))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(pilot, app)
        await pilot.press("enter")  # error_rate: a probe gate of api and auth
        await wait_for(pilot, lambda: screen.evidence is not None and screen.evidence.gate == "error_rate",
                       what="error_rate's evidence")
        ev = screen.evidence
        assert ev.failed_total == total and len(ev.failed_probes) == 50
        assert [p.at for p in ev.failed_probes] == [p.at for p in failed[:50]]  # the newest, newest first
        body = str(screen.query_one("#review-evidence-body").render())
        assert f"Failed probes of its targets in the period: {total}   the newest 50 listed\n" in body
        assert f"{time_text(failed[0].at, app.zone, date=True)}  api  HTTP 503  HTTP 503" in body
        assert time_text(failed[50].at, app.zone, date=True) not in body
