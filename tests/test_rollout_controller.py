"""The RolloutController against a real database, with real actuator targets."""
import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import psycopg
import pytest

from checks.models import Verdict
from console.actuators import CommandActuator, FileActuator, HttpActuator
from console.rollout import RolloutController
from console.store.db import Store

from .conftest import http_server

STEPS = [0, 5, 10, 25, 50, 75, 100]


@pytest.fixture(autouse=True)
def _audit_key_from_env(monkeypatch):
    # The audit key from the environment: a key file would appear in the per-test XDG
    # dir under tmp_path, among the files the actuator tests list (tests/test_audit.py
    # covers the key file).
    monkeypatch.setenv("GONOGO_AUDIT_KEY", "ab" * 32)


def controller(store, soak="0s", actuator=None):
    soak_td = timedelta(seconds=0) if soak == "0s" else timedelta(hours=12)
    return RolloutController(store, flag="f", steps=STEPS, soak_for=lambda pct: soak_td, actuator=actuator)


async def act(c, action, **kw):
    kw.setdefault("operator", "alice")
    kw.setdefault("reason", "looks good")
    kw.setdefault("verdict", Verdict.GO)
    return await c.act(action, **kw)


def rows(db_url, sql, *args):
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql, args).fetchall()


async def test_advance_applies_audits_and_sets_the_flag_in_one_transaction(store, db_url):
    c = controller(store)
    r = await act(c, "advance", gates={"error_rate": 0.01})
    assert r.outcome == "done" and (r.from_pct, r.to_pct) == (0, 5) and r.actuation == "ok"
    assert rows(db_url, "select percentage, state, version from gonogo.rollout_state") == [(5, "soaking", 2)]
    assert rows(db_url, "select enabled, rollout_percentage from gonogo.feature_flags where flag = 'f'") == [(True, 5)]
    ev = rows(db_url, "select operator, action, from_pct, to_pct, reason, verdict, gates, automatic, override from gonogo.rollout_events")
    assert ev == [("alice", "advance", 0, 5, "looks good", "GO", {"error_rate": 0.01}, False, False)]


async def test_refusals_say_why_and_change_nothing(store, db_url):
    c = controller(store, soak="12h")
    await act(c, "advance")
    r = await act(c, "advance", verdict=Verdict.HOLD, verdict_why="p95_latency yellow")
    assert r.outcome == "refused"
    assert "soak has 11h 59m left" in r.message or "soak has 12h" in r.message
    assert "verdict HOLD: p95_latency yellow" in r.message
    assert (await act(c, "advance", reason="  ")).message == "a reason is required"
    assert rows(db_url, "select count(*) from gonogo.rollout_events") == [(1,)]
    r = await act(c, "advance", verdict=Verdict.HOLD, override=True, reason="CEO signed off in the review")
    assert r.outcome == "done" and r.override and r.to_pct == 10
    assert rows(db_url, "select override, verdict from gonogo.rollout_events order by id desc limit 1") == [(True, "HOLD")]


async def test_stale_view_is_refused_naming_who_changed_what(store):
    c = controller(store)
    first = await act(c, "advance", expect_version=1)
    assert first.outcome == "done"
    r = await act(c, "advance", operator="bob", expect_version=1)
    assert r.outcome == "refused"
    assert "you saw version 1, but alice did advance 0 % → 5 %" in r.message and "now at 5 %" in r.message
    r = await act(c, "rollback", operator="bob", expect_percentage=10)
    assert r.outcome == "refused" and "you saw 10 %" in r.message
    assert (await act(c, "rollback", operator="bob", expect_percentage=5)).outcome == "done"


RACE = textwrap.dedent("""
    import asyncio, sys
    from datetime import timedelta
    from checks.models import Verdict
    from console.rollout import RolloutController
    from console.store.db import Store

    async def main():
        s = Store(sys.argv[1]); await s.open()
        c = RolloutController(s, flag="f", steps=[0, 5, 10], soak_for=lambda p: timedelta(0))
        r = await c.act("advance", operator=sys.argv[2], reason="race", verdict=Verdict.GO, expect_version=1)
        print(r.outcome)
        await s.close()
    asyncio.run(main())
""")


async def test_ten_processes_racing_make_exactly_one_change(store, db_url):
    await controller(store).act("hold", operator="x", reason="create the row", verdict=Verdict.GO)  # refused, row exists
    procs = [subprocess.Popen([sys.executable, "-c", RACE, db_url, f"op{i}"], stdout=subprocess.PIPE, text=True)
             for i in range(10)]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(outs) == ["done"] + ["refused"] * 9
    assert rows(db_url, "select count(*) from gonogo.rollout_events") == [(1,)]
    assert rows(db_url, "select percentage, version from gonogo.rollout_state") == [(5, 2)]


KILLED_IN_TRANSACTION = textwrap.dedent("""
    import sys, time, psycopg
    with psycopg.connect(sys.argv[1]) as conn:
        conn.execute("select * from gonogo.rollout_state where flag = 'f' for update")
        conn.execute("update gonogo.rollout_state set percentage = 50, version = version + 1 where flag = 'f'")
        print("locked", flush=True)
        time.sleep(60)
""")


async def test_kill_9_inside_the_transaction_changes_nothing(store, db_url):
    c = controller(store)
    await act(c, "advance")
    p = subprocess.Popen([sys.executable, "-c", KILLED_IN_TRANSACTION, db_url], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "locked"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    r = await act(c, "advance", expect_version=2)  # the row lock is released; nothing of the dead one stuck
    assert r.outcome == "done" and r.to_pct == 10
    assert rows(db_url, "select count(*) from gonogo.rollout_events") == [(2,)]


async def test_crash_between_commit_and_actuation_is_recovered_on_start(store, db_url, tmp_path):
    flags = tmp_path / "feature_flags.json"
    marker = tmp_path / "started"
    # an actuator that hangs; the process is killed -9 while it runs (after the commit)
    slow = CommandActuator([sys.executable, "-c", f"import pathlib,time; pathlib.Path({str(marker)!r}).touch(); time.sleep(60)"])
    script = textwrap.dedent(f"""
        import asyncio, sys
        from datetime import timedelta
        from checks.models import Verdict
        from console.actuators import CommandActuator
        from console.rollout import RolloutController
        from console.store.db import Store
        async def main():
            s = Store(sys.argv[1]); await s.open()
            c = RolloutController(s, flag="f", steps=[0, 5, 10], soak_for=lambda p: timedelta(0),
                                  actuator=CommandActuator({slow.argv!r}))
            await c.act("advance", operator="alice", reason="go", verdict=Verdict.GO)
        asyncio.run(main())
    """)
    p = subprocess.Popen([sys.executable, "-c", script, db_url])
    for _ in range(200):
        if marker.exists():
            break
        await asyncio.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert rows(db_url, "select percentage, actuation from gonogo.rollout_state") == [(5, "pending")]
    c = controller(store, actuator=FileActuator(flags))
    r = await c.recover()
    assert r is not None and r.actuation == "ok"
    assert json.loads(flags.read_text())["f"]["rollout_percentage"] == 5
    assert rows(db_url, "select actuation from gonogo.rollout_state") == [("ok",)]


async def test_tampered_audit_row_is_found(store, db_url):
    c = controller(store)
    for action in ("advance", "advance", "hold", "resume", "rollback"):
        assert (await act(c, action)).outcome == "done"
    report = await c.verify_audit()
    assert report.events == 5 and report.verified
    with psycopg.connect(db_url, autocommit=True) as conn:
        third = conn.execute("select id from gonogo.rollout_events order by id offset 2 limit 1").fetchone()[0]
        for sql in ("update gonogo.rollout_events set reason = 'x'", "delete from gonogo.rollout_events",
                    "truncate gonogo.rollout_events"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(sql)
        # a superuser can switch the guard off; the chain still tells
        conn.execute("alter table gonogo.rollout_events disable trigger rollout_events_append_only")
        conn.execute("update gonogo.rollout_events set reason = 'nothing happened' where id = %s", (third,))
    [p] = (await c.verify_audit()).problems
    assert p.event_id == third and "edited" in p.why


async def test_deleting_the_newest_events_is_found(store, db_url):
    c = controller(store)
    for action in ("advance", "advance", "hold"):
        await act(c, action)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("alter table gonogo.rollout_events disable trigger rollout_events_append_only")
        last = conn.execute("select max(id) from gonogo.rollout_events").fetchone()[0]
        conn.execute("delete from gonogo.rollout_events where id = %s", (last,))  # the chain left is intact
    report = await c.verify_audit()
    [p] = report.problems
    assert report.events == 2 and p.event_id == last - 1 and f"events after id {last - 1} were deleted" in p.why


class _Recorder(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append((body, self.headers.get("Idempotency-Key")))
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, *a):
        pass


@pytest.fixture
def flag_service():
    with http_server(_Recorder, seen=[], status=200) as srv:
        yield srv


async def test_http_actuator_posts_with_idempotency_key_and_failure_is_not_pretended(store, db_url, flag_service):
    url = f"http://127.0.0.1:{flag_service.server_address[1]}/flags"
    c = controller(store, actuator=HttpActuator(url, timeout=2, retries=1))
    r = await act(c, "advance")
    assert r.actuation == "ok"
    assert flag_service.seen == [({"flag": "f", "percentage": 5, "previous": 0, "enabled": True,
                                   "idempotency_key": "f:2"}, "f:2")]
    flag_service.status = 500
    r = await act(c, "advance")
    assert r.outcome == "done" and r.actuation == "failed" and "HTTP 500" in r.actuation_error
    assert "NOT applied" in r.message
    assert len(flag_service.seen) == 3  # one try + one retry
    assert rows(db_url, "select percentage, actuation from gonogo.rollout_state") == [(10, "failed")]
    assert rows(db_url, "select severity from gonogo.alerts where fingerprint = 'rollout:actuation:f' and resolved_at is null") == [("critical",)]
    flag_service.status = 200
    r = await c.retry_actuation()
    assert r.actuation == "ok" and flag_service.seen[-1][0]["percentage"] == 10 and flag_service.seen[-1][1] == "f:3"
    assert rows(db_url, "select count(*) from gonogo.alerts where fingerprint = 'rollout:actuation:f' and resolved_at is null") == [(0,)]


async def test_command_actuator_runs_argv_without_a_shell(store, tmp_path):
    out = tmp_path / "args.json"
    argv = [sys.executable, "-c", f"import json,sys; json.dump(sys.argv[1:], open({str(out)!r}, 'w'))",
            "--flag={flag}", "{percentage}", "{previous}", "$(rm -rf /); echo pwned"]
    c = controller(store, actuator=CommandActuator(argv, timeout=10))
    assert (await act(c, "advance")).actuation == "ok"
    assert json.loads(out.read_text()) == ["--flag=f", "5", "0", "$(rm -rf /); echo pwned"]
    failing = CommandActuator([sys.executable, "-c", "import sys; print('kubectl: forbidden', file=sys.stderr); sys.exit(3)"])
    r = await act(controller(store, actuator=failing), "advance")
    assert r.actuation == "failed" and "exited 3: kubectl: forbidden" in r.actuation_error
    slow = CommandActuator([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    r = await act(controller(store, actuator=slow), "advance")
    assert r.actuation == "failed" and "timed out after 0.5s" in r.actuation_error


async def test_file_actuator_keeps_other_flags_and_writes_atomically(store, tmp_path):
    path = tmp_path / "feature_flags.json"
    path.write_text(json.dumps({"other_flag": {"enabled": True, "rollout_percentage": 100}}))
    c = controller(store, actuator=FileActuator(path))
    await act(c, "advance")
    await act(c, "rollback")
    data = json.loads(path.read_text())
    assert data["other_flag"] == {"enabled": True, "rollout_percentage": 100}
    assert data["f"]["rollout_percentage"] == 0 and data["f"]["enabled"] is False
    assert [p.name for p in tmp_path.iterdir()] == ["feature_flags.json"]  # no temp file left behind
    path.write_text("{not json")
    r = await act(c, "advance")
    assert r.actuation == "failed" and "not overwriting" in r.actuation_error
    assert path.read_text() == "{not json"


async def test_a_slow_actuation_never_overwrites_a_newer_change(store, tmp_path):
    """A advances (its deploy command is slow); B rolls back meanwhile. The system must
    end at B's 0 %, not at A's 5 % applied last."""
    log = tmp_path / "applied.txt"
    argv = [sys.executable, "-c",
            f"import sys, time; time.sleep(1.5 if sys.argv[1] != '0' else 0); open({str(log)!r}, 'a').write(sys.argv[1] + '\\n')",
            "{percentage}"]
    a, b = controller(store, actuator=CommandActuator(argv)), controller(store, actuator=CommandActuator(argv))
    first = asyncio.create_task(act(a, "advance"))
    await asyncio.sleep(0.5)  # A has committed and is applying
    second = await act(b, "rollback", operator="bob")
    first = await first
    assert second.actuation == "ok" and first.actuation in ("ok", "superseded")
    assert log.read_text().split()[-1] == "0"


async def test_file_actuator_keeps_the_files_mode(store, tmp_path):
    path = tmp_path / "feature_flags.json"
    path.write_text("{}")
    path.chmod(0o644)
    await act(controller(store, actuator=FileActuator(path)), "advance")
    assert path.stat().st_mode & 0o777 == 0o644


async def test_non_finite_gate_values_never_block_a_rollback_and_the_chain_verifies(store, db_url):
    c = controller(store)
    await act(c, "advance")
    r = await act(c, "rollback", gates={"p95_latency": float("inf"), "error_rate": float("nan"), "big": 1e16})
    assert r.outcome == "done"
    assert rows(db_url, "select gates from gonogo.rollout_events order by id desc limit 1")[0][0] == {
        "p95_latency": None, "error_rate": None, "big": 1e16}
    assert (await c.verify_audit()).verified


# --- the file actuator through symlinks, and what it refuses (issue 8) -----------------


def _flags(path):
    return json.loads(Path(path).read_text())


async def test_file_actuator_writes_through_a_symlink_keeping_the_link_and_the_mode(store, tmp_path):
    (tmp_path / "releases").mkdir()
    real = tmp_path / "releases" / "feature_flags.json"
    real.write_text(json.dumps({"other": {"rollout_percentage": 100}}))
    real.chmod(0o640)
    link = tmp_path / "feature_flags.json"
    link.symlink_to(real)
    r = await act(controller(store, actuator=FileActuator(link)), "advance")
    assert r.actuation == "ok"
    assert link.is_symlink() and os.readlink(link) == str(real)  # still a link, to the same file
    assert _flags(real)["f"]["rollout_percentage"] == 5 and _flags(real)["other"] == {"rollout_percentage": 100}
    assert real.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in (tmp_path / "releases").iterdir()) == ["feature_flags.json"]  # no temp file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feature_flags.json", "releases"]


async def test_file_actuator_follows_a_chain_of_relative_symlinks(store, tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    real = tmp_path / "b" / "flags.json"
    real.write_text("{}")
    (tmp_path / "a" / "hop.json").symlink_to("../b/flags.json")
    (tmp_path / "flags.json").symlink_to("a/hop.json")
    r = await act(controller(store, actuator=FileActuator(tmp_path / "flags.json")), "advance")
    assert r.actuation == "ok" and _flags(real)["f"]["rollout_percentage"] == 5
    assert (tmp_path / "flags.json").is_symlink() and (tmp_path / "a" / "hop.json").is_symlink()


async def test_file_actuator_creates_the_target_of_a_dangling_symlink(store, tmp_path):
    """Decided: a link to a file not yet there (its directory is) gets the file,
    as a plain path that does not exist yet does: the first apply creates it."""
    (tmp_path / "shared").mkdir()
    link = tmp_path / "flags.json"
    link.symlink_to(tmp_path / "shared" / "flags.json")
    r = await act(controller(store, actuator=FileActuator(link)), "advance")
    assert r.actuation == "ok" and link.is_symlink()
    assert _flags(tmp_path / "shared" / "flags.json")["f"]["enabled"] is True


def _directory(d):
    (d / "flags.json").mkdir()
    return d / "flags.json"


def _link_to_directory(d):
    (d / "elsewhere").mkdir()
    (d / "flags.json").symlink_to(d / "elsewhere")
    return d / "flags.json"


def _link_into_missing_directory(d):
    (d / "flags.json").symlink_to(d / "missing" / "flags.json")
    return d / "flags.json"


def _fifo(d):
    os.mkfifo(d / "flags.json")  # reading it would block forever
    return d / "flags.json"


def _loop(d):
    (d / "flags.json").symlink_to(d / "flags.json")
    return d / "flags.json"


@pytest.mark.parametrize("make, says", [
    (_directory, "flags.json is a directory"),
    (_link_to_directory, "elsewhere) is a directory"),
    (lambda d: d / "missing" / "flags.json", "parent directory {d}/missing does not exist"),
    (_link_into_missing_directory, "parent directory {d}/missing does not exist"),
    (_fifo, "is not a regular file"),
    (_loop, "Too many levels of symbolic links"),
])
async def test_file_actuator_refuses_what_it_cannot_replace_and_says_not_applied(store, db_url, tmp_path, make, says):
    path = make(tmp_path)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    r = await act(controller(store, actuator=FileActuator(path)), "advance")
    assert r.outcome == "done" and r.actuation == "failed", r
    assert says.format(d=tmp_path) in r.actuation_error and "NOT applied" in r.message
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # nothing created, no temp file
    assert rows(db_url, "select actuation from gonogo.rollout_state") == [("failed",)]


class _HeaderRecorder(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, *a):
        pass


async def test_http_actuator_sends_its_headers_and_never_shows_them_or_the_url_path():
    from console.config import parse_config
    from console.actuators import make_actuator
    from console.secrets import forget_secrets

    with http_server(_HeaderRecorder, seen=[], status=503) as srv:
        try:
            url = f"http://127.0.0.1:{srv.server_address[1]}/hooks/T0KEN-IN-PATH"
            config = parse_config({"auto_rollback": {"enabled": False}, "actuator": {
                "type": "http", "url": url, "retries": 0,
                "headers": {"Authorization": "Bearer fl4gs-s3cret", "Idempotency-Key": "not-ours"}}})
            actuator = make_actuator(config)
            assert actuator.describe() == f"POST http://127.0.0.1:{srv.server_address[1]}/***"
            with pytest.raises(Exception) as info:
                await actuator.apply("f", 5, 0, "f:2")
            assert srv.seen[0]["authorization"] == "Bearer fl4gs-s3cret"
            assert srv.seen[0]["idempotency-key"] == "f:2"  # gonogo's own key wins
            assert str(info.value) == f"HTTP 503 from http://127.0.0.1:{srv.server_address[1]}/***"
        finally:
            forget_secrets()


async def test_an_operator_from_user_with_control_characters_can_still_act(store, db_url, monkeypatch):
    from console.config import parse_config

    monkeypatch.setenv("USER", "bob\x1b[31m\x7f")
    operator = parse_config({"auto_rollback": {"enabled": False}}).operator
    assert operator == "bob\\x1b[31m\\x7f"
    r = await act(controller(store), "advance", operator=operator)
    assert r.outcome == "done"
    assert rows(db_url, "select operator from gonogo.rollout_events") == [("bob\\x1b[31m\\x7f",)]


async def test_an_actuator_error_holding_nul_is_recorded_not_lost(store):
    # A deploy script's stderr may hold NUL, which PostgreSQL text cannot: the failure
    # is still recorded (NOT APPLIED, with its reason), the NUL written as \x00.
    nul = CommandActuator([sys.executable, "-c", "import sys; sys.stderr.write('bad\\x00byte'); sys.exit(3)"])
    r = await act(controller(store, actuator=nul), "advance")
    assert r.actuation == "failed"
    async with store.connection() as conn:
        row = await (await conn.execute("select actuation, actuation_error from gonogo.rollout_state where flag = 'f'")).fetchone()
    assert row[0] == "failed" and "bad\\x00byte" in row[1]
