"""The go/no-go review (issue 13): the pure rules of checks/review.py, and a review
recorded by the RolloutController as a signed audit event that moves nothing."""
from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from checks import review
from checks.models import Band, Bands, Condition, Coverage, GateReading, ReviewDecision, Verdict
from console.rollout import RolloutController

STEPS = [0, 5, 10, 25, 50, 75, 100]


def reading(name, value, band, **kw):
    return GateReading(name=name, value=value, band=band, **kw)


READINGS = (
    reading("error_rate", 0.02, Band.GREEN, unit="%", window="5m",
            bands=Bands(green=Condition.parse("< 0.1"), red=Condition.parse("> 1.0"))),
    reading("uptime_7d", 99.979, Band.RED, unit="%", window="7d",
            bands=Bands(green=Condition.parse(">= 99.98"), red=Condition.parse("< 99.98")),
            coverage=Coverage(window_seconds=7 * 86400, covered_seconds=6 * 86400, samples=5000)),
    reading("cost_daily", None, Band.UNKNOWN, unit="$", detail="no data"),
)


# --- checks/review.py -----------------------------------------------------------------


def test_the_criteria_are_every_gate_by_default_or_the_named_ones_in_their_order():
    every = review.criteria(READINGS)
    assert [c.gate for c in every] == ["error_rate", "uptime_7d", "cost_daily"]
    assert all(not c.accepted and c.note == "" for c in every)
    up = every[1]
    # the value carries the digits that judge it (99.979 is not shown as 99.98)
    assert (up.value, up.shown, up.band, up.window) == (99.979, "99.979 %", Band.RED, "7d")
    assert up.coverage == pytest.approx(6 / 7)
    assert every[0].coverage is None and every[2].shown == "—"
    named = review.criteria(READINGS, ["cost_daily", "error_rate", "not_evaluated_yet"])
    assert [c.gate for c in named] == ["cost_daily", "error_rate", "not_evaluated_yet"]
    assert named[2].band is Band.UNKNOWN and named[2].value is None


def test_space_toggles_one_mark_and_a_refresh_keeps_marks_and_notes():
    marks = review.criteria(READINGS)
    marks = review.toggled(marks, "uptime_7d")
    assert [m.accepted for m in marks] == [False, True, False]
    assert [m.accepted for m in review.toggled(marks, "uptime_7d")] == [False, False, False]
    marks = review.marked(marks, notes={"cost_daily": "over budget on Tue"})
    newer = (reading("error_rate", 0.5, Band.YELLOW, unit="%"), *READINGS[1:])
    again = review.refresh(marks, newer)
    assert again[0].value == 0.5 and again[0].band is Band.YELLOW
    assert [m.accepted for m in again] == [False, True, False] and again[2].note == "over budget on Tue"


def test_go_needs_every_criterion_accepted_or_an_override_and_no_go_never_does():
    marks = review.marked(review.criteria(READINGS), {"error_rate": True, "uptime_7d": True})
    assert review.not_accepted(marks) == ("cost_daily",)  # never marked: not accepted
    assert not review.go_allowed(marks)
    why = review.refusal("GO", marks, override=False)
    assert "not accepted: cost_daily" in why and "override" in why
    assert review.refusal("GO", marks, override=True) == ""
    assert review.is_override("GO", marks) and not review.is_override("NO-GO", marks)
    assert review.refusal("NO-GO", marks, override=False) == ""
    everything = review.marked(marks, {"cost_daily": True})
    assert review.go_allowed(everything) and review.refusal("GO", everything, override=False) == ""
    assert not review.is_override("GO", everything)
    assert "no criteria" in review.refusal("GO", (), override=True) and not review.go_allowed(())


def test_the_summary_names_what_is_not_accepted():
    marks = review.marked(review.criteria(READINGS), {"error_rate": True})
    assert review.summary(marks) == "1 of 3 accepted; not accepted: uptime_7d, cost_daily"
    assert review.summary(review.marked(marks, {"uptime_7d": True, "cost_daily": True})) == "3 of 3 accepted"
    assert review.summary(()) == "no criteria"
    assert review.coverage_text(0.857) == "86 %" and review.coverage_text(None) == "—"


# --- recorded by the controller -----------------------------------------------------


def controller(store, flag="f"):
    return RolloutController(store, flag=flag, steps=STEPS, soak_for=lambda pct: timedelta(0))


def decision(decision="GO", *, accept=("error_rate", "uptime_7d", "cost_daily"), override=False, **kw):
    marks = review.marked(review.criteria(READINGS), {g: True for g in accept},
                          {"cost_daily": "no cost data; invoices checked by hand"})
    kw.setdefault("reason", "week clean")
    return ReviewDecision(decision=decision, criteria=marks, override=override, **kw)


def rows(db_url):
    with psycopg.connect(db_url) as conn:
        cur = conn.execute("select action, from_pct, to_pct, override, verdict, review, sig, operator, reason"
                           " from gonogo.rollout_events order by id")
        names = [c.name for c in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


def state(db_url, flag="f"):
    with psycopg.connect(db_url) as conn:
        cur = conn.execute("select percentage, state, version, audit_count from gonogo.rollout_state where flag = %s",
                           (flag,))
        return cur.fetchone()


async def test_a_review_is_a_signed_event_that_moves_nothing_and_reads_back(store, db_url):
    c = controller(store)
    for _ in range(2):
        assert (await c.act("advance", operator="alice", reason="ok", verdict=Verdict.GO)).outcome == "done"
    before = state(db_url)
    r = await c.record_review(decision(present="ana, bo", seen_version=before[2]), operator="carol",
                              verdict=Verdict.HOLD, gates={"error_rate": 0.02, "cost_daily": float("nan")})
    assert r.outcome == "done" and not r.override and "GO" in r.message
    after = state(db_url)
    # percentage, state and version as they were; the head counts the review
    assert after[:3] == before[:3] and after[3] == before[3] + 1 == 3
    last = rows(db_url)[-1]
    assert (last["action"], last["from_pct"], last["to_pct"], last["override"], last["verdict"]) == \
        ("review", 10, 10, False, "HOLD")
    assert last["sig"] and last["operator"] == "carol"
    assert last["review"]["decision"] == "GO" and last["review"]["present"] == "ana, bo"
    marks = {m["gate"]: m for m in last["review"]["criteria"]}
    assert marks["cost_daily"] == {"gate": "cost_daily", "value": None, "shown": "—", "band": "unknown", "window": "",
                                   "coverage": None, "accepted": True,
                                   "note": "no cost data; invoices checked by hand"}
    assert marks["uptime_7d"]["value"] == 99.979 and marks["uptime_7d"]["band"] == "red"

    assert (await c.verify_audit()).verified
    # the rollout carries on: the next advance is version 4, and the trail still verifies
    assert (await c.act("advance", operator="alice", reason="ok", verdict=Verdict.GO, expect_version=3)).version == 4
    assert (await c.verify_audit()).verified

    [rec] = await store.reviews("f")
    assert (rec.operator, rec.decision, rec.reason, rec.present, rec.percentage, rec.verdict, rec.override) == \
        ("carol", "GO", "week clean", "ana, bo", 10, "HOLD", False)
    assert [m.gate for m in rec.criteria] == ["error_rate", "uptime_7d", "cost_daily"]
    assert all(m.accepted for m in rec.criteria) and rec.criteria[1].coverage == pytest.approx(6 / 7)
    assert await store.latest_review("f") == rec
    assert await store.reviews("f", until=rec.at - timedelta(microseconds=1)) == []
    assert await store.latest_review("f", until=rec.at - timedelta(microseconds=1)) is None
    # status's history keeps the four actions; the audit trail screen's has the review too
    assert [e.action for e in await store.rollout_history("f")] == ["advance", "advance", "advance"]
    trail = await store.rollout_history("f", reviews=True)
    assert [e.action for e in trail] == ["advance", "advance", "review", "advance"] and trail[2].review == rec


async def test_go_over_a_criterion_not_accepted_is_refused_unless_overridden(store, db_url):
    c = controller(store)
    r = await c.record_review(decision(accept=("error_rate",)), operator="carol", verdict=Verdict.GO)
    assert r.outcome == "refused" and "uptime_7d, cost_daily" in r.message
    assert rows(db_url) == []
    r = await c.record_review(decision(accept=("error_rate",), override=True), operator="carol", verdict=Verdict.GO)
    assert r.outcome == "done" and r.override and "OVERRIDE" in r.message
    assert rows(db_url)[-1]["override"] is True
    # NO-GO needs nothing accepted, and is no override
    r = await c.record_review(decision("NO-GO", accept=()), operator="carol", verdict=Verdict.GO)
    assert r.outcome == "done" and not r.override and rows(db_url)[-1]["override"] is False
    [a, b] = await store.reviews("f")
    assert (a.decision, a.override, b.decision, b.override) == ("GO", True, "NO-GO", False)
    assert (await c.verify_audit()).verified


async def test_a_review_of_a_rollout_that_moved_meanwhile_is_refused(store, db_url):
    c = controller(store)
    await c.act("advance", operator="alice", reason="ok", verdict=Verdict.GO)
    seen = state(db_url)[2]
    await c.act("rollback", operator="bob", reason="errors", verdict=Verdict.ROLLBACK)
    r = await c.record_review(decision(seen_version=seen), operator="carol", verdict=Verdict.GO)
    assert r.outcome == "refused" and "bob did rollback 5 % → 0 %" in r.message
    assert [e["action"] for e in rows(db_url)] == ["advance", "rollback"]


@pytest.mark.parametrize("field, value", [("reason", "  "), ("present", "a\x00b")])
async def test_a_review_without_a_reason_or_with_a_nul_is_refused(store, db_url, field, value):
    r = await controller(store).record_review(decision(**{field: value}), operator="carol", verdict=Verdict.GO)
    assert r.outcome == "refused" and rows(db_url) == []


# --- gonogo review ------------------------------------------------------------------------


def test_the_cli_reads_the_criteria_records_a_review_and_refuses_go_over_a_rejected_one(tmp_path, db_url,
                                                                                      health_server):
    import json

    from .test_cli import gonogo, write_config

    base, _ = health_server
    cfg = str(write_config(tmp_path, db_url, base, extra='[review]\ncriteria = ["checks_passing", "error_rate"]\n'))
    r = gonogo("review", "--json", "--config", cfg)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["flag"] == "phase_4_deployment" and shown["percentage"] == 0 and shown["latest_review"] is None
    assert shown["verdict"] in ("GO", "HOLD", "ROLLBACK") and shown["evaluated_at"]
    assert [c["name"] for c in shown["criteria"]] == ["checks_passing", "error_rate"]
    assert set(shown["criteria"][0]) == {"name", "value", "shown", "window", "coverage", "band"}
    assert shown["criteria"][1]["window"] == "5m"

    # bad usage: exit 2, nothing recorded
    for bad, says in [(("--accept", "nope", "--decision", "GO", "--reason", "r"), "not a criterion"),
                      (("--accept", "error_rate", "--reject", "error_rate", "--decision", "GO", "--reason", "r"),
                       "both accepted and rejected"),
                      (("--note", "error_rate", "--decision", "GO", "--reason", "r"), "NAME=TEXT"),
                      (("--decision", "GO"), "needs --reason"),
                      (("--accept", "error_rate"), "give --decision too"),
                      (("--decision", "MAYBE", "--reason", "r"), "invalid choice")]:
        r = gonogo("review", *bad, "--config", cfg)
        assert r.returncode == 2 and says in r.stderr, (bad, r.stderr)

    # GO over a rejected (and an unmarked) criterion: refused, naming it
    r = gonogo("review", "--reject", "checks_passing", "--decision", "GO", "--reason", "ship it", "--config", cfg)
    assert r.returncode == 1 and "not accepted: checks_passing, error_rate" in r.stderr
    assert json.loads(gonogo("review", "--json", "--config", cfg).stdout)["latest_review"] is None

    r = gonogo("review", "--accept", "checks_passing", "--accept", "error_rate", "--note",
               "error_rate=quiet all week", "--decision", "GO", "--reason", "burn-in clean", "--present", "ana, bo",
               "--config", cfg)
    assert r.returncode == 0, r.stderr
    assert "review recorded: GO at 0 % of phase_4_deployment" in r.stdout and "2 of 2 accepted" in r.stdout
    r = gonogo("review", "--reject", "error_rate", "--decision", "GO", "--reason", "board said go", "--override",
               "--json", "--config", cfg)
    assert r.returncode == 0 and json.loads(r.stdout)["override"] is True

    latest = json.loads(gonogo("review", "--json", "--config", cfg).stdout)["latest_review"]
    assert (latest["decision"], latest["override"], latest["reason"], latest["percentage"]) == \
        ("GO", True, "board said go", 0)
    assert [(c["gate"], c["accepted"]) for c in latest["criteria"]] == [("checks_passing", False), ("error_rate", False)]
    r = gonogo("review", "--config", cfg)
    assert r.returncode == 0 and "latest review: GO (OVERRIDE) at 0 %" in r.stdout
    # status keeps DESIGN.md's four actions: the reviews are not rollout actions
    status = json.loads(gonogo("status", "--json", "--config", cfg).stdout)
    assert status["history"] == [] and status["version"] == 1
    r = gonogo("audit", "verify", "--config", cfg)
    assert r.returncode == 0 and "2 events" in r.stdout, r.stdout + r.stderr


# --- the failed probes of the period (console/store/probes.py failed_probes) ---------------


def week_of_probes(now, target: str, *, fails, every=timedelta(minutes=1), days=7):
    """A probe of `target` every `every` over `days` days to `now`; `fails(i)` says
    which fail (i counts back from now)."""
    from checks.models import ProbeResult

    n = int(timedelta(days=days) / every)
    return [ProbeResult(target=target, at=now - i * every, ok=not fails(i), status=503 if fails(i) else 200,
                        latency_ms=20.0, reason="HTTP 503" if fails(i) else "") for i in range(n)]


def hour_of(at):
    return at.replace(minute=0, second=0, microsecond=0)


async def seeded_failures(store):
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    await store.insert_probes(week_of_probes(now, "api", fails=lambda i: i % 97 == 5))  # rare, all week
    await store.insert_probes(week_of_probes(now, "auth", fails=lambda i: 30 <= i < 110))  # a recent burst
    await store.insert_probes(week_of_probes(now, "other", fails=lambda i: i % 3 == 0))  # not asked for
    return now


async def test_the_failed_probes_are_the_newest_of_the_period_and_the_count_is_all_of_them(store, db_url):
    now = await seeded_failures(store)
    since = hour_of(now - timedelta(days=7))
    got = await store.failed_probes(["api", "auth"], since, 50)
    with psycopg.connect(db_url) as c:
        want = c.execute("select target, at from gonogo.probe_results where target in ('api', 'auth')"
                         " and at >= %s and not ok order by at desc, target limit 50", (since,)).fetchall()
        total = c.execute("select count(*) from gonogo.probe_results where target in ('api', 'auth')"
                          " and at >= %s and not ok", (since,)).fetchone()[0]
    assert [(p.target, p.at) for p in got.probes] == want
    assert all(not p.ok and p.status == 503 and p.reason == "HTTP 503" for p in got.probes)
    assert got.total == total > 50  # 80 of auth's burst and about a hundred of api's over the week
    # A limit above the count lists every one; no target, or none failing, is empty.
    every = await store.failed_probes(["api"], since, 1000)
    assert len(every.probes) == every.total == total - 80
    assert await store.failed_probes([], since, 50) == type(got)([], 0)


async def test_the_count_outlives_the_raw_rows_and_is_taken_from_the_hour_since_falls_in(store, db_url):
    now = await seeded_failures(store)
    since = hour_of(now - timedelta(days=7))
    before = await store.failed_probes(["api"], since, 1000)
    with psycopg.connect(db_url) as c:  # the raw rows past a 2-day retention pruned; the rollups stay
        c.execute("delete from gonogo.probe_results where at < now() - interval '2 days'")
        kept = c.execute("select count(*) from gonogo.probe_results where target = 'api' and not ok").fetchone()[0]
    after = await store.failed_probes(["api"], since, 1000)
    assert after.total == before.total and len(after.probes) == kept < before.total
    # A moment within an hour counts that whole hour, in the list as in the count.
    mid = await store.failed_probes(["api"], since + timedelta(minutes=59), 1000)
    assert mid.total == before.total


async def test_the_failed_probes_are_read_by_index_and_only_the_newest_hours_raw(store, db_url):
    import json

    from console.store.probes import _FAILED

    now = await seeded_failures(store)
    with psycopg.connect(db_url, autocommit=True) as c:
        # The hourly rollup as a real deployment has it (100 targets, its 35 days), so
        # the planner chooses as it would there: on a few hundred rows a scan is cheaper.
        c.execute("insert into gonogo.probe_hour (target, bucket, total, ok, http_5xx)"
                  " select 't' || t, date_bin('1 hour', now(), timestamptz 'epoch') - h * interval '1 hour', 240, 240, 0"
                  " from generate_series(1, 100) t, generate_series(0, 35 * 24) h")
        c.execute("analyze")
        params = {"targets": ["api", "auth"], "since": hour_of(now - timedelta(days=7)), "limit": 50}
        doc = c.execute("explain (analyze, format json) " + _FAILED, params).fetchone()[0]

    def nodes(n):
        yield n
        for child in n.get("Plans", ()):
            yield from nodes(child)

    scans = [n for n in nodes(doc[0]["Plan"]) if n.get("Relation Name") in ("probe_results", "probe_hour")]
    assert {n["Relation Name"] for n in scans} == {"probe_results", "probe_hour"}, json.dumps(doc)
    assert all("Index" in n["Node Type"] for n in scans), [(n["Relation Name"], n["Node Type"]) for n in scans]
    # Of the two targets' 20,000 raw rows of the week, only the few hours that hold the
    # newest 50 failures are read (rows returned and rows filtered out, every loop).
    raw = sum((n["Actual Rows"] + n.get("Rows Removed by Filter", 0)) * n["Actual Loops"]
              for n in scans if n["Relation Name"] == "probe_results")
    assert 50 <= raw <= 5 * 60, raw
