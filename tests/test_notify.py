"""[[notify]] webhooks against a real receiver on 127.0.0.1 and a real database: one
POST per event, across a leader restart; retried after a 500; a receiver that hangs
neither slows the evaluations nor leaks the webhook's secret path into the feed;
Slack and generic bodies; a follower sends nothing."""
from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler

import psycopg
import pytest

from checks.models import NotifyEvent, Verdict
from console.notify.bodies import event_id, headline, json_body, slack_body, slack_escape
from console.notify.send import retry_delay
from console.rollout import RolloutController
from console.secrets import forget_secrets
from console.store.db import Store

from .conftest import base_url, dict_rows, http_server, make_config, wait_for
from .test_engine import running as engine_running

SECRET_PATH = "/services/T000/B000/s3cretT0ken"


class Receiver:
    """What the webhook receiver answers, set by the test: `statuses` are used in
    order (then 200); `hang` set: every request waits until `release` is set."""

    def __init__(self):
        self.posts: list[dict] = []  # every request: path, status answered, body
        self.statuses: list[int] = []
        self.hang = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.arrived = 0  # requests received, answered or not

    def delivered(self, path: str | None = None) -> list[dict]:
        with self.lock:
            return [p["body"] for p in self.posts if p["status"] == 200 and (path is None or p["path"] == path)]

    def tries(self) -> int:
        with self.lock:
            return len(self.posts)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        rx: Receiver = self.server.rx  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with rx.lock:
            rx.arrived += 1
        if rx.hang.is_set():
            rx.release.wait(30)
        with rx.lock:
            status = rx.statuses.pop(0) if rx.statuses else 200
            rx.posts.append({"path": self.path, "status": status, "body": json.loads(body),
                             "headers": dict(self.headers)})
        with contextlib.suppress(OSError):  # a sender that gave up has gone
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


@pytest.fixture
def receiver():
    rx = Receiver()
    with http_server(_Handler, rx=rx) as server:
        try:
            yield base_url(server), rx
        finally:
            rx.release.set()  # a hanging request lets go, so that the server can stop
    forget_secrets()


def hook(url: str, name: str = "oncall", **kw) -> dict:
    return {"name": name, "url": url + SECRET_PATH, **kw}


TICK = 0.05  # seconds between the tests' webhook rounds (production: 2 s)


def running(config, *, tick: float = TICK, **kw):
    """test_engine's running engine, its webhook rounds every `tick` rather than 2 s:
    the same rounds, sooner. (What the tests count is rounds, not seconds: a second
    POST, were there one, would go in the round after the first.)"""
    return engine_running(config, before=lambda engine: setattr(engine.notifier, "tick", tick), **kw)


async def registered(engine) -> None:
    """The leader has seen its webhooks: events from now on are theirs."""
    await wait_for(None, lambda: bool(engine.notifier.since), what="the webhooks registered")


async def rounds_pass(engine, n: int = 5) -> None:
    """Let the notifier run `n` more rounds (time for a second POST, were there one)."""
    start = engine.notifier.rounds
    await wait_for(None, lambda: engine.notifier.rounds >= start + n, what=f"{n} notify rounds")


def controller(store) -> RolloutController:
    return RolloutController(store, flag="phase_4_deployment", steps=[0, 5, 10, 25, 50, 75, 100],
                             soak_for=lambda p: timedelta(0))


async def auto_rollback(store, reason: str = "auto-rollback: error_rate red (> 1) sustained for 3s") -> None:
    """An advance, then an automatic rollback, both through the RolloutController."""
    c = controller(store)
    assert (await c.act("advance", operator="alice", reason="soaked", verdict=Verdict.GO)).outcome == "done"
    done = await c.act("rollback", operator="gonogo auto-rollback", reason=reason, verdict=Verdict.ROLLBACK,
                       automatic=True)
    assert done.outcome == "done"


def quiet_config(db_url, base, notify, **extra):
    """No probe gates to judge (nothing but the webhooks' events happens)."""
    return make_config(db_url, base, targets=(), gates=[], auto_rollback={"enabled": False},
                       console={"refresh": "250ms", "operator": "tester"}, notify=notify, **extra)


# -- exactly one ------------------------------------------------------------------------


async def test_a_real_auto_rollback_is_posted_exactly_once(db_url, health_server, receiver):
    base, state = health_server
    url, rx = receiver
    config = make_config(
        db_url, base, interval="250ms",
        gates=[{"name": "error_rate", "source": "probe", "window": "1s"}],
        console={"refresh": "250ms", "operator": "tester"},
        # What is posted is this test's subject, not when a breach counts as sustained
        # (tests/test_engine.py judges that): a 1 s sustain rolls back sooner.
        auto_rollback={"enabled": True, "gates": ["error_rate"], "sustain": "1s", "consecutive": 3},
        notify=[hook(url, format="json", events=["auto_rollback", "rollout_action"])],
    )
    async with running(config, record_every=timedelta(milliseconds=250)) as engine:
        await wait_for(None, lambda: engine.snapshot and engine.snapshot.verdict is Verdict.GO, what="GO")
        await registered(engine)
        c = controller(engine.store)
        for _ in range(2):  # 0 → 5 → 10: two human actions, each one POST
            assert (await c.act("advance", operator="alice", reason="soaked", verdict=Verdict.GO)).outcome == "done"
        state.status = 503
        await wait_for(None, lambda: engine.snapshot.rollout and engine.snapshot.rollout.state == "rolled_back",
                       timeout=30, what="auto-rollback")
        await wait_for(None, lambda: len(rx.delivered()) >= 3, what="three POSTs")
        await rounds_pass(engine, 10)
        bodies = rx.delivered()
        autos = [b for b in bodies if b["event"] == "auto_rollback"]
        # Events of one round are sent at once: they may arrive in any order.
        assert sorted(b["event"] for b in bodies) == ["auto_rollback", "rollout_action", "rollout_action"]
        assert rx.tries() == 3
        (b,) = autos
        assert (b["flag"], b["from"], b["to"], b["automatic"], b["operator"]) == (
            "phase_4_deployment", 10, 0, True, "gonogo auto-rollback")
        assert "error_rate red" in b["reason"]
        outbox = await engine.store.notify_outbox()
        assert [(r.kind, r.attempts, r.last_status) for r in outbox] == [
            ("rollout_action", 1, 200), ("rollout_action", 1, 200), ("auto_rollback", 1, 200)]
        assert all(r.sent_at is not None and r.next_at is None for r in outbox)


async def test_a_leader_restart_sends_nothing_twice_and_sends_what_the_last_leader_left(db_url, receiver,
                                                                                         health_server):
    base, _ = health_server
    url, rx = receiver
    config = quiet_config(db_url, base, [hook(url, events=["auto_rollback"], attempts=5)])
    async with running(config) as first:
        await registered(first)
        await auto_rollback(first.store)
        await wait_for(None, lambda: len(rx.delivered()) == 1, what="the POST")
        # The receiver answers before the leader writes the send down: wait for that, or
        # this leader stops inside the at-least-once window and the next one sends again.
        await sent_all(db_url)
    # A new leader on the same database: the event is in the outbox, sent.
    async with running(config) as second:
        await registered(second)
        await rounds_pass(second, 10)
        assert rx.tries() == 1
        # The next auto-rollback meets a receiver that fails, and its leader dies
        # before any retry succeeds.
        rx.statuses = [500] * 100
        await auto_rollback(second.store, reason="auto-rollback: p95_latency red (> 500) sustained for 3s")
        await wait_for(None, lambda: rx.tries() >= 2, what="the failed try")
        # The receiver answers before the leader writes down the failure: wait for that.
        for _ in range(100):
            left = [r for r in await _outbox(db_url) if r["sent_at"] is None]
            if left and "HTTP 500" in (left[0]["last_error"] or ""):
                break
            await asyncio.sleep(0.1)
    left = [r for r in await _outbox(db_url) if r["sent_at"] is None]
    assert len(left) == 1 and left[0]["attempts"] >= 1 and "HTTP 500" in left[0]["last_error"]
    rx.statuses = []
    async with running(config) as third:
        await wait_for(None, lambda: len(rx.delivered()) == 2, timeout=20, what="the left event sent")
        await rounds_pass(third, 10)
    bodies = rx.delivered()
    assert len(bodies) == 2 and len({b["text"] for b in bodies}) == 2
    assert "p95_latency" in bodies[1]["text"]
    assert all(r["sent_at"] is not None for r in await _outbox(db_url))


async def sent_all(db_url, timeout: float = 10.0) -> None:
    """Every row of the outbox written down as sent (polled, with a deadline)."""
    for _ in range(int(timeout / 0.05)):
        rows = await _outbox(db_url)
        if rows and all(r["sent_at"] is not None for r in rows):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the outbox was not all sent within {timeout}s: {await _outbox(db_url)}")


async def _outbox(db_url):
    return dict_rows(db_url, "select * from gonogo.notify_outbox order by created_at")


async def test_a_500_is_retried_and_delivered_once_and_its_alert_resolves(db_url, receiver, health_server):
    base, _ = health_server
    url, rx = receiver
    rx.statuses = [500]
    config = quiet_config(db_url, base, [hook(url, events=["auto_rollback"])])
    async with running(config) as engine:
        await registered(engine)
        await auto_rollback(engine.store)
        await wait_for(None, lambda: len(rx.delivered()) == 1, timeout=20, what="the retried POST")
        await rounds_pass(engine, 10)
        assert [p["status"] for p in rx.posts] == [500, 200]
        assert rx.posts[0]["body"] == rx.posts[1]["body"]  # the same event, the same body
        (row,) = await engine.store.notify_outbox()
        assert (row.attempts, row.last_status, row.last_error) == (2, 200, "")
        assert row.sent_at is not None
    with psycopg.connect(db_url) as c:
        alert = c.execute("select name, summary, resolved_at from gonogo.alerts where source = 'notify'").fetchone()
    assert alert[0] == "webhook oncall failing" and "HTTP 500" in alert[1]
    assert alert[2] is not None, "the webhook's alert resolves once it delivers"


async def test_a_refusing_receiver_is_given_up_on_and_a_failing_one_after_its_attempts(db_url, receiver,
                                                                                       health_server):
    base, _ = health_server
    url, rx = receiver
    rx.statuses = [404] + [503] * 10
    config = quiet_config(db_url, base, [hook(url, "gone", events=["rollout_action"], attempts=2)])
    async with running(config) as engine:
        await registered(engine)
        c = controller(engine.store)
        await c.act("advance", operator="alice", reason="one", verdict=Verdict.GO)
        await wait_for(None, lambda: rx.tries() == 1, what="the 404")
        await c.act("advance", operator="alice", reason="two", verdict=Verdict.GO)
        await wait_for(None, lambda: rx.tries() == 3, timeout=20, what="two tries of the second")
        await rounds_pass(engine, 20)
        rows = await engine.store.notify_outbox()
    assert rx.tries() == 3
    assert [(r.attempts, r.last_status, r.sent_at, r.next_at) for r in rows] == [(1, 404, None, None),
                                                                                 (2, 503, None, None)]
    assert "not retried" in rows[0].last_error and "HTTP 503" in rows[1].last_error
    with psycopg.connect(db_url) as c:
        summary, resolved = c.execute("select summary, resolved_at from gonogo.alerts where source = 'notify'").fetchone()
    assert "gave up" in summary and resolved is None


# -- never in the way, never a secret --------------------------------------------------


async def test_a_hanging_receiver_times_out_without_slowing_evaluations_and_the_feed_names_it(db_url, receiver,
                                                                                            health_server):
    base, _ = health_server
    url, rx = receiver
    rx.hang.set()
    config = quiet_config(db_url, base, [hook(url, "pager", events=["auto_rollback"], timeout="300ms")])
    seen = []
    loop = asyncio.get_running_loop()
    async with running(config, on_snapshot=lambda s: seen.append(loop.time())) as engine:
        await registered(engine)
        await auto_rollback(engine.store)
        await wait_for(None, lambda: any(a.source == "notify" for a in engine.snapshot.alerts), timeout=20,
                       what="the webhook's alert in the feed")
        # While every send hangs to its timeout, the evaluations keep their 250 ms cadence.
        start, t0 = len(seen), loop.time()
        await wait_for(None, lambda: loop.time() - t0 >= 2.0, what="two seconds")
        evaluations = len(seen) - start
        hung = rx.arrived
        alert = next(a for a in engine.snapshot.alerts if a.source == "notify")
    assert evaluations >= 5, f"{evaluations} evaluations in 2 s with a hanging webhook"
    assert alert.name == "webhook pager failing" and alert.severity == "warning"
    assert "no answer within 300ms" in alert.summary and url in alert.summary
    assert "s3cret" not in alert.summary and "T000" not in alert.summary and "/***" in alert.summary
    with psycopg.connect(db_url) as c:
        texts = c.execute("select string_agg(summary || name, ' ') from gonogo.alerts").fetchone()[0]
        errors = c.execute("select string_agg(last_error, ' ') from gonogo.notify_outbox").fetchone()[0]
    assert "s3cret" not in texts and "s3cret" not in errors
    assert hung >= 1 and rx.tries() == 0  # none answered: every try timed out


async def test_slack_and_json_bodies_carry_outside_text_as_text(db_url, receiver, health_server):
    base, _ = health_server
    url, rx = receiver
    slack = {"name": "slack", "url": f"{url}/slack/T1/B1/tok", "events": ["auto_rollback"]}
    generic = {"name": "generic", "url": f"{url}/json", "format": "json", "events": ["auto_rollback"],
               "headers": {"Authorization": "Bearer hdr-s3cret-value"}}
    config = quiet_config(db_url, base, [slack, generic])
    hostile = "auto-rollback: <!channel> & <https://evil.example|click> see https://u:pw@db.example/x?token=abc"
    async with running(config) as engine:
        await registered(engine)
        await auto_rollback(engine.store, reason=hostile)
        await wait_for(None, lambda: rx.tries() == 2, what="both POSTs")
    s = rx.delivered("/slack/T1/B1/tok")[0]
    j = rx.delivered("/json")[0]
    assert "<!channel>" not in json.dumps(s) and "&lt;!channel&gt; &amp; &lt;https://" in s["text"]
    assert "<" not in s["text"] and ">" not in s["text"]
    assert s["blocks"][0]["text"] == {"type": "mrkdwn", "text": s["text"]}
    assert j["id"] in s["blocks"][1]["elements"][0]["text"]  # one event, one id, whatever the format
    assert j["event"] == "auto_rollback" and j["flag"] == "phase_4_deployment"
    assert (j["from"], j["to"], j["operator"], j["automatic"]) == (5, 0, "gonogo auto-rollback", True)
    assert j["reason"].startswith("auto-rollback: <!channel> & <https://")  # JSON's escaping is enough
    assert "u:pw" not in j["reason"] and "token=abc" not in j["reason"] and "https://db.example/***" in j["reason"]
    assert j["at"].endswith("+00:00")
    json_headers = next(p["headers"] for p in rx.posts if p["path"] == "/json")
    assert json_headers["Authorization"] == "Bearer hdr-s3cret-value"
    assert json_headers["Content-Type"] == "application/json"


async def test_a_follower_sends_nothing_until_it_leads(db_url, receiver, health_server):
    base, _ = health_server
    url, rx = receiver
    config = quiet_config(db_url, base, [hook(url, events=["auto_rollback"])])
    other = Store(db_url)
    await other.open()
    await other.migrate()
    await other.notify_register(["oncall"])  # a leader saw the webhook before
    assert await other.hold_leadership("gonogo:phase_4_deployment")
    closed = False
    try:
        async with running(config) as follower:
            await wait_for(None, lambda: follower.snapshot is not None, what="an evaluation")
            assert not follower.leader
            await auto_rollback(follower.store)
            # As long as a leader takes to send (one round), many times over; and two
            # evaluations, each of which sees the event.
            t0, evaluated = asyncio.get_running_loop().time(), follower.snapshot.at
            await wait_for(None, lambda: asyncio.get_running_loop().time() - t0 > 10 * TICK
                           and follower.snapshot.at > evaluated + timedelta(milliseconds=250), what="a while")
            assert rx.tries() == 0 and follower.notifier.rounds == 0
            assert await follower.store.notify_outbox() == []
            await other.close()  # the leader goes: this one takes over and sends what happened meanwhile
            closed = True
            await wait_for(None, lambda: len(rx.delivered()) == 1, timeout=20, what="the new leader's POST")
            await rounds_pass(follower, 5)
            assert rx.tries() == 1
    finally:
        if not closed:
            await other.close()


async def test_a_new_webhook_is_not_flooded_with_the_history_before_it(db_url, receiver, health_server):
    base, _ = health_server
    url, rx = receiver
    store = Store(db_url)
    await store.open()
    await store.migrate()
    await auto_rollback(store)  # last week, before the webhook was configured
    await store.close()
    config = quiet_config(db_url, base, [hook(url, events=["auto_rollback", "rollout_action"])])
    async with running(config) as engine:
        await registered(engine)
        await rounds_pass(engine, 10)
        assert rx.tries() == 0
        await auto_rollback(engine.store)
        await wait_for(None, lambda: len(rx.delivered()) == 2, what="the new events")
        await rounds_pass(engine, 5)
    # Sent in the same round, at once: in any order.
    assert sorted(b["blocks"][1]["elements"][0]["text"].split(" · ")[1] for b in rx.delivered()) == [
        "auto_rollback", "rollout_action"]


# -- bodies, pure -----------------------------------------------------------------------


def _event(**kw) -> NotifyEvent:
    from datetime import datetime, timezone

    base = dict(key="audit:f:1", kind="auto_rollback", at=datetime(2026, 11, 25, 3, 12, 9, tzinfo=timezone.utc),
                flag="f", from_pct=10, to_pct=0, operator="gonogo auto-rollback", reason="error_rate red")
    return NotifyEvent(**{**base, **kw})


def test_headlines_say_what_happened_in_utc():
    assert headline(_event()) == "AUTO-ROLLBACK of f: 10 % → 0 % at 2026-11-25 03:12:09 UTC: error_rate red"
    crit = _event(kind="critical_alert_opened", key="alert_opened:x@t", name="db down", severity="critical",
                  source="alertmanager", summary="primary <@U123> unreachable")
    assert headline(crit) == "CRITICAL db down (critical, alertmanager) at 2026-11-25 03:12:09 UTC: primary <@U123> unreachable"
    assert "&lt;@U123&gt;" in slack_body(crit)["text"] and "<@" not in json.dumps(slack_body(crit))
    failed = _event(kind="actuator_failure", action="advance", operator="alice", to_pct=25,
                    summary="HTTP 502 from https://flags.example/***")
    assert headline(failed).startswith("NOT APPLIED: f at 25 % (advance by alice) did not reach the system: HTTP 502")
    review = _event(kind="review_decision", action="review", verdict="NO-GO", operator="bob", reason="p1 open")
    assert headline(review) == "Go/no-go review of f: NO-GO recorded by bob at 2026-11-25 03:12:09 UTC: p1 open"


def test_an_event_id_is_stable_and_json_bodies_are_complete():
    a, b = _event(), _event(reason="other words")
    assert event_id(a) == event_id(b) and event_id(a) != event_id(_event(key="audit:f:2"))
    body = json_body(_event(reason="x" * 5000))
    assert {"id", "event", "flag", "at", "from", "to", "operator", "reason", "severity", "summary"} <= body.keys()
    assert len(body["reason"]) == 1000
    assert slack_escape("a & <b> &amp;") == "a &amp; &lt;b&gt; &amp;amp;"


def test_backoff_doubles_with_jitter_up_to_five_minutes():
    assert retry_delay(1, lambda: 0.0) == timedelta(seconds=0.5)
    assert retry_delay(1, lambda: 1.0) == timedelta(seconds=1)
    assert retry_delay(4, lambda: 1.0) == timedelta(seconds=8)
    assert retry_delay(30, lambda: 1.0) == timedelta(minutes=5)
    assert retry_delay(30, lambda: 0.0) == timedelta(minutes=2.5)


async def test_reviews_critical_alerts_and_a_change_not_applied_are_each_posted_once(db_url, receiver,
                                                                                     health_server):
    from checks.models import ReviewDecision
    from console.actuators import HttpActuator

    base, _ = health_server
    url, rx = receiver
    config = quiet_config(db_url, base, [hook(url, format="json", events=[
        "review_decision", "critical_alert_opened", "critical_alert_resolved", "actuator_failure"])])
    async with running(config) as engine:
        await registered(engine)
        store = engine.store
        c = controller(store)
        review = ReviewDecision(decision="NO-GO", reason="P1 <!here> still open", present="carol")
        assert (await c.record_review(review, operator="bob", verdict=Verdict.HOLD)).outcome == "done"
        await store.raise_alert("am:db", "alertmanager", "critical", "db down", "primary unreachable")
        await store.raise_alert("am:disk", "alertmanager", "warning", "disk 80%", "not critical: not sent")
        await wait_for(None, lambda: len(rx.delivered()) == 2, what="the review and the alert")
        await store.resolve_alerts(["am:db"])
        failing = RolloutController(store, flag="phase_4_deployment", steps=[0, 5, 10, 25, 50, 75, 100],
                                    soak_for=lambda p: timedelta(0),
                                    actuator=HttpActuator("http://127.0.0.1:1/flags", timeout=0.5, retries=0))
        assert (await failing.act("advance", operator="alice", reason="go", verdict=Verdict.GO)).actuation == "failed"
        await wait_for(None, lambda: len(rx.delivered()) == 4, what="the resolution and the failure")
        await rounds_pass(engine, 10)
    bodies = rx.delivered()
    assert rx.tries() == 4
    # Up to four are sent at once: they arrive in any order.
    kinds = ("review_decision", "critical_alert_opened", "critical_alert_resolved", "actuator_failure")
    by_kind = {b["event"]: b for b in bodies}
    assert len(bodies) == 4 and sorted(by_kind) == sorted(kinds)
    rv, opened, resolved, failed = (by_kind[k] for k in kinds)
    assert (rv["verdict"], rv["operator"], rv["reason"]) == ("NO-GO", "bob", "P1 <!here> still open")
    assert (opened["name"], opened["severity"], opened["alert_source"]) == ("db down", "critical", "alertmanager")
    assert opened["id"] != resolved["id"]
    assert (failed["to"], failed["operator"], failed["action"]) == (5, "alice", "advance")
    assert "connection refused" in failed["summary"] or "cannot" in failed["summary"]
