"""The signed audit trail (issue 9): what the database's own superuser can do to the
trail and the rollout state, and that `gonogo audit verify` names each of it; the
audit key (environment, key file); the pure signing in checks/audit.py."""
from __future__ import annotations

import base64
import os
import stat
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from checks.audit import (
    GENESIS, canonical_head, event_hash, event_signature, head_signature, key_id, link, seal, verify_flag,
)
from checks.models import Verdict
from console.audit_key import AuditKeyError, key_path, load_key, parse_key
from console.rollout import RolloutController

from .conftest import dict_rows, in_threads

STEPS = [0, 5, 10, 25, 50, 75, 100]
OTHER_KEY = bytes(range(32))


def controller(store, flag="f"):
    return RolloutController(store, flag=flag, steps=STEPS, soak_for=lambda pct: timedelta(0))


async def act(c, action, **kw):
    kw.setdefault("operator", "alice")
    kw.setdefault("reason", "looks good")
    kw.setdefault("verdict", Verdict.GO)
    return await c.act(action, **kw)


async def story(c):
    """0 → 5 → 10, hold, resume, → 25: five events, version 6, at 25 % soaking."""
    for action in ("advance", "advance", "hold", "resume", "advance"):
        assert (await act(c, action)).outcome == "done"


def as_superuser(db_url, *statements, replica=True):
    """What someone with the database's superuser does: switch the append-only guard
    off for the session, then edit."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        if replica:
            conn.execute("set session_replication_role = replica")
        for st in statements:
            if isinstance(st, tuple):
                conn.execute(*st)
            else:
                conn.execute(st)


def events(db_url):
    return dict_rows(db_url, "select id, at, flag, operator, action, from_pct, to_pct, reason, verdict, gates, automatic,"
                             " override, prev_hash, hash, sig, key_id from gonogo.rollout_events order by id")


def state(db_url):
    with psycopg.connect(db_url) as conn:
        cur = conn.execute("select * from gonogo.rollout_state where flag = 'f'")
        return dict(zip([c.name for c in cur.description], cur.fetchone()))


async def problems(c, **kw):
    return [(p.event_id, p.why) for p in (await c.verify_audit(**kw)).problems]


# --- a clean trail ---------------------------------------------------------------------


async def test_every_event_and_the_head_are_signed_and_verify(store, db_url):
    c = controller(store)
    await story(c)
    key = load_key()
    evs = events(db_url)
    assert len(evs) == 5 and all(e["sig"] and e["key_id"] == key.id for e in evs)
    st = state(db_url)
    assert st["audit_head"] == evs[-1]["sig"] and st["audit_count"] == 5 and st["audit_sig"]
    report = await c.verify_audit()
    assert report.verified and report.keyed and report.events == 5 and report.problems == []
    [f] = report.flags
    assert (f.signed, f.unsigned, f.head_signed, f.version, f.percentage, f.state) == (5, None, True, 6, 25, "soaking")


async def test_an_automatic_rollback_is_signed_too(store, db_url):
    c = controller(store)
    await act(c, "advance")
    r = await act(c, "rollback", operator="gonogo (auto-rollback)", reason="error_rate red for 5 m", automatic=True,
                  verdict=Verdict.ROLLBACK, gates={"error_rate": 4.2})
    assert r.outcome == "done"
    last = events(db_url)[-1]
    assert last["automatic"] is True and last["sig"] and last["key_id"] == load_key().id
    assert last["sig"] == event_signature(load_key().secret, events(db_url)[0]["sig"], last)
    assert (await c.verify_audit()).verified


async def test_other_flags_are_verified_too(store):
    a, b = controller(store, "f"), controller(store, "g")
    await act(a, "advance")
    await act(b, "advance")
    await act(a, "rollback")
    report = await a.verify_audit()
    assert report.verified and [f.flag for f in report.flags] == ["f", "g"] and report.events == 3


# --- what the superuser can do, each named -----------------------------------------------


@pytest.mark.parametrize("edit", [
    "update gonogo.rollout_state set percentage = 100 where flag = 'f'",
    "update gonogo.rollout_state set percentage = 100, state = 'complete', version = version + 1 where flag = 'f'",
])
async def test_state_set_to_100_percent_with_no_event_is_found(store, db_url, edit):
    c = controller(store)
    await story(c)
    newest = events(db_url)[-1]["id"]
    as_superuser(db_url, edit, replica=False)  # the state row has no guard at all
    found = await problems(c)
    assert [eid for eid, _ in found] == [newest]
    why = found[0][1]
    assert "100 %" in why and "changed with no event" in why and "leaves it at 25 %" in why
    assert "does not match its signed head" in why
    # without the key the replay alone still finds it
    found = await problems(c, key=None)
    assert [eid for eid, _ in found] == [newest] and "changed with no event" in found[0][1]


async def test_trail_truncated_and_head_cleared_is_found(store, db_url):
    c = controller(store)
    await story(c)
    as_superuser(db_url, "alter table gonogo.rollout_events disable trigger rollout_events_no_truncate",
                 "truncate gonogo.rollout_events",
                 "update gonogo.rollout_state set audit_head = null, audit_count = null, audit_sig = null",
                 replica=False)
    for key in ("load", None):
        found = await problems(c, key=key)
        assert [eid for eid, _ in found] == [None]  # no event is left to name: the flag's whole trail is
        why = found[0][1]
        assert "holds no event" in why and "version 6" in why and "5 event(s) are missing" in why


async def test_newest_event_deleted_and_head_moved_back_is_found(store, db_url):
    c = controller(store)
    await story(c)
    evs = events(db_url)
    kept = evs[-2]
    # everything the unkeyed checks look at is made consistent with the shorter trail
    as_superuser(
        db_url,
        ("delete from gonogo.rollout_events where id = %s", (evs[-1]["id"],)),
        ("update gonogo.rollout_state set percentage = 10, state = 'soaking', version = 5, audit_head = %s,"
         " audit_count = 4 where flag = 'f'", (link(kept),)),
    )
    found = await problems(c)
    assert [eid for eid, _ in found] == [kept["id"]]
    assert "does not match its signed head" in found[0][1] and f"newest event id {kept['id']}" in found[0][1]
    # without the key nothing can tell: verify says so instead of passing
    report = await c.verify_audit(key=None)
    assert report.problems == [] and not report.verified
    assert any("signed head" in line and "no key" in line for line in report.not_checked)


async def test_a_reason_rewritten_with_the_unkeyed_chain_recomputed_is_found(store, db_url):
    c = controller(store)
    await story(c)
    evs = events(db_url)
    target = evs[2]["id"]
    evs[2]["reason"] = "routine hold, nothing seen"
    prev = evs[1]["hash"]
    statements = []
    for e in evs[2:]:  # the attacker recomputes every hash from the edited event on
        e["prev_hash"], e["hash"] = prev, event_hash(prev, e)
        prev = e["hash"]
        statements.append(("update gonogo.rollout_events set reason = %s, prev_hash = %s, hash = %s where id = %s",
                           (e["reason"], e["prev_hash"], e["hash"], e["id"])))
    as_superuser(db_url, *statements)
    # the unkeyed chain is intact again ...
    report = await c.verify_audit(key=None)
    assert report.problems == []
    # ... but the signature of the edited event is not
    found = await problems(c)
    assert [eid for eid, _ in found] == [target] and "signature does not match" in found[0][1]


async def test_an_old_event_copied_as_a_new_row_is_found(store, db_url):
    c = controller(store)
    await story(c)
    cols = "at, flag, operator, action, from_pct, to_pct, reason, verdict, gates, automatic, override"
    as_superuser(db_url, f"insert into gonogo.rollout_events ({cols}, prev_hash, hash, sig, key_id)"
                         f" select {cols}, prev_hash, hash, sig, key_id from gonogo.rollout_events order by id"
                         " offset 1 limit 1")
    copy = events(db_url)[-1]["id"]
    found = await problems(c)
    assert [eid for eid, _ in found] == [copy]
    assert "prev_hash does not match" in found[0][1] and "signature does not match" in found[0][1]


async def test_an_old_event_copied_with_the_unkeyed_chain_and_state_made_to_fit_is_found(store, db_url):
    """The copy of the first advance after a rollback, chained by sha256 and with the
    state, version, head and count set to match: only the keys can tell."""
    c = controller(store)
    await act(c, "advance")
    await act(c, "rollback")
    evs = events(db_url)
    e = dict(evs[0])
    e["prev_hash"], e["hash"] = evs[-1]["hash"], event_hash(evs[-1]["hash"], e)
    as_superuser(
        db_url,
        ("insert into gonogo.rollout_events (at, flag, operator, action, from_pct, to_pct, reason, verdict, gates,"
         " automatic, override, prev_hash, hash, sig, key_id) values (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb,"
         " %s, %s, %s, %s, %s, %s)",
         (e["at"], e["flag"], e["operator"], e["action"], e["from_pct"], e["to_pct"], e["reason"], e["verdict"],
          "{}", e["automatic"], e["override"], e["prev_hash"], e["hash"], e["sig"], e["key_id"])),
        ("update gonogo.rollout_state set percentage = 5, state = 'soaking', version = 4, audit_head = %s,"
         " audit_count = 3 where flag = 'f'", (e["sig"],)),
    )
    copy = events(db_url)[-1]["id"]
    assert (await c.verify_audit(key=None)).problems == []  # every unkeyed check fits
    found = await problems(c)
    assert [eid for eid, _ in found] == [copy]
    assert "signature does not match" in found[0][1] and "signed head" in found[0][1]


@pytest.mark.parametrize("forge", ["other key", "random"])
async def test_a_forged_signature_is_found(store, db_url, forge):
    c = controller(store)
    await story(c)
    evs = events(db_url)
    target = evs[-1]
    evs[-1]["reason"] = "all fine"
    if forge == "other key":
        sig, kid = event_signature(OTHER_KEY, link(evs[-2]), evs[-1]), key_id(OTHER_KEY)
    else:
        sig, kid = os.urandom(32).hex(), target["key_id"]
    h = event_hash(target["prev_hash"], evs[-1])
    as_superuser(db_url, ("update gonogo.rollout_events set reason = 'all fine', hash = %s, sig = %s, key_id = %s"
                          " where id = %s", (h, sig, kid, target["id"])),
                 ("update gonogo.rollout_state set audit_head = %s where flag = 'f'", (sig,)))
    found = await problems(c)
    assert found[0][0] == target["id"] and "signature does not match" in found[0][1]
    assert all(eid == target["id"] for eid, _ in found)
    if forge == "other key":
        assert f"it names key id {key_id(OTHER_KEY)}, this key is {load_key().id}" in found[0][1]


async def test_a_forged_signature_in_the_middle_is_named_first(store, db_url):
    c = controller(store)
    await story(c)
    evs = events(db_url)
    as_superuser(db_url, ("update gonogo.rollout_events set sig = %s where id = %s", ("0" * 64, evs[2]["id"])))
    found = await problems(c)
    # the next event chains over the forged signature: it is named too, saying so
    assert [eid for eid, _ in found] == [evs[2]["id"], evs[3]["id"]]
    assert f"chains over the signature of event id {evs[2]['id']}" in found[1][1]


async def test_the_state_row_deleted_is_found(store, db_url):
    c = controller(store)
    await story(c)
    as_superuser(db_url, "delete from gonogo.rollout_state where flag = 'f'", replica=False)
    found = await problems(c)
    assert [eid for eid, _ in found] == [events(db_url)[-1]["id"]] and "no rollout state" in found[0][1]


# --- without the key, or with the wrong one -----------------------------------------------


async def test_without_a_key_verify_says_which_checks_it_skipped(store, db_url):
    c = controller(store)
    await story(c)
    key_path().rename(key_path().with_name("elsewhere"))
    assert load_key() is None
    report = await c.verify_audit()
    assert not report.keyed and report.problems == [] and not report.verified
    assert report.not_checked == ["f: the signatures of 5 events and the signed head (the rollout state): no key"]
    assert not key_path().exists()  # verify never creates a key


async def test_a_console_without_the_key_of_a_signed_trail_does_not_start_its_own(store, db_url, caplog):
    c = controller(store)
    await act(c, "advance")
    trail_key = load_key().id
    key_path().unlink()
    other = controller(store)  # a console on another machine, not given the key
    r = await act(other, "advance")
    assert r.outcome == "refused" and "no audit key" in r.message and trail_key in r.message
    assert not key_path().exists()
    r = await act(other, "rollback", reason="pager")  # never refused
    assert r.outcome == "done" and "NOT signed" in r.message
    last = events(db_url)[-1]
    assert last["action"] == "rollback" and last["sig"] is None
    assert "UNSIGNED" in caplog.text


async def test_an_unsigned_event_after_signed_ones_is_found(store, db_url, monkeypatch):
    c = controller(store)
    await act(c, "advance")
    key = load_key()
    key_path().unlink()
    await act(controller(store), "rollback", reason="pager")  # written unsigned: no key
    monkeypatch.setenv("GONOGO_AUDIT_KEY", key.secret.hex())
    rollback = events(db_url)[-1]["id"]
    found = await problems(c)
    assert [eid for eid, _ in found] == [rollback]
    assert "not signed, but events before it are" in found[0][1] and "no signed head" in found[0][1]


async def test_a_console_with_another_key_is_refused_and_named(store, db_url, monkeypatch):
    c = controller(store)
    await act(c, "advance")
    trail_key = load_key().id
    monkeypatch.setenv("GONOGO_AUDIT_KEY", OTHER_KEY.hex())
    r = await act(controller(store), "advance")
    assert r.outcome == "refused" and f"(id {key_id(OTHER_KEY)}, from GONOGO_AUDIT_KEY)" in r.message
    assert f"signs the trail of f (id {trail_key})" in r.message
    found = await problems(c, key=load_key())  # verifying with the wrong key: every event, with the hint
    assert "this key is " + key_id(OTHER_KEY) in found[0][1]


# --- events written before signing ------------------------------------------------------


async def test_events_written_before_signing_are_reported_as_unsigned(store, db_url):
    c = controller(store)
    await story(c)
    # what a trail written before migration 6 looks like: hashes only, a head with no signature
    as_superuser(db_url, "update gonogo.rollout_events set sig = null, key_id = null",
                 "update gonogo.rollout_state set audit_count = null, audit_sig = null,"
                 " audit_head = (select hash from gonogo.rollout_events order by id desc limit 1)")
    ids = [e["id"] for e in events(db_url)]
    report = await c.verify_audit()
    assert report.problems == [] and not report.verified  # nothing signs them: not "verified"
    assert report.flags[0].unsigned == (ids[0], ids[-1]) and report.flags[0].signed == 0
    assert report.not_checked == [f"f: events {ids[0]}–{ids[-1]} are unsigned (written before signing) and no"
                                  " signed event follows them yet: nothing protects them"]
    # the next action signs over them
    await act(c, "rollback")
    report = await c.verify_audit()
    assert report.verified and report.flags[0].anchored_by == ids[-1] + 1
    # from then on, rewriting one of them (even with the unkeyed chain recomputed) is found
    evs = events(db_url)
    evs[1]["reason"] = "x"
    prev, stmts = evs[0]["hash"], []
    for e in evs[1:-1]:
        e["prev_hash"], e["hash"] = prev, event_hash(prev, e)
        prev = e["hash"]
        stmts.append(("update gonogo.rollout_events set reason = %s, prev_hash = %s, hash = %s where id = %s",
                      (e["reason"], e["prev_hash"], e["hash"], e["id"])))
    stmts.append(("update gonogo.rollout_events set prev_hash = %s, hash = %s where id = %s",
                  (prev, event_hash(prev, evs[-1]), evs[-1]["id"])))
    as_superuser(db_url, *stmts)
    found = await problems(c)
    assert [eid for eid, _ in found] == [evs[-1]["id"]]
    assert f"chains over the unsigned events before it, ids {ids[0]}–{ids[-1]}" in found[0][1]


# --- the CLI --------------------------------------------------------------------------------


def test_audit_verify_exit_codes(tmp_path, db_url, health_server, monkeypatch):
    import asyncio

    from console.rollout import make_controller
    from console.store.db import Store
    from tests.test_cli import gonogo, write_config

    base, _ = health_server
    cfg = str(write_config(tmp_path, db_url, base))

    async def seed():
        from console.config import load_config

        s = Store(db_url)
        await s.open()
        await s.migrate()
        c = make_controller(load_config(cfg), s)
        for action in ("advance", "hold", "resume", "rollback"):
            await act(c, action)
        await s.close()

    asyncio.run(seed())
    r = gonogo("audit", "verify", "--config", cfg)
    assert r.returncode == 0, r.stderr
    assert "audit trail intact: 4 events" in r.stdout and f"key id {load_key().id}" in r.stdout
    assert "phase_4_deployment: 4 events, version 5, at 0 % (rolled back)" in r.stdout
    # no key: 4, naming what was not checked and what was
    key_path().rename(tmp_path / "audit.key.saved")
    r = gonogo("audit", "verify", "--config", cfg)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "NOT fully verified" in r.stderr and "the signatures of 4 events" in r.stderr and "no key" in r.stderr
    assert "checked: the hash chain, the replay" in r.stderr and "GONOGO_AUDIT_KEY" in r.stderr
    # a key that is there but unusable: 2, its value never shown
    env = {**os.environ, "GONOGO_AUDIT_KEY": "s3cr3t-but-short"}
    r = gonogo("audit", "verify", "--config", cfg, env=env)
    assert r.returncode == 2 and "GONOGO_AUDIT_KEY" in r.stderr and "s3cr3t" not in r.stderr + r.stdout
    # tampered: 1, naming the event
    (tmp_path / "audit.key.saved").rename(key_path())
    newest = events(db_url)[-1]["id"]
    as_superuser(db_url, "update gonogo.rollout_state set percentage = 100, state = 'complete'", replica=False)
    r = gonogo("audit", "verify", "--config", cfg)
    assert r.returncode == 1 and f"event id {newest} (phase_4_deployment)" in r.stderr
    assert "changed with no event" in r.stderr


# --- the key -------------------------------------------------------------------------------


async def test_the_key_file_is_created_0600_on_the_first_action_only(store, db_url):
    assert load_key() is None and not key_path().exists()
    c = controller(store)
    await act(c, "hold")  # refused (nothing to hold): writes no event, so needs no key
    assert not key_path().exists()
    await act(c, "advance")
    mode = stat.S_IMODE(key_path().stat().st_mode)
    assert mode == 0o600
    text = key_path().read_text()
    assert len(text) == 65 and text.endswith("\n") and bytes.fromhex(text.strip())
    assert [p.name for p in key_path().parent.iterdir()] == ["audit.key"]  # no temporary file left
    assert events(db_url)[0]["key_id"] == load_key().id


def test_a_key_file_readable_by_others_is_refused_and_left_as_it_is():
    key_path().parent.mkdir(parents=True)
    key_path().write_text("ab" * 32 + "\n")
    key_path().chmod(0o644)
    with pytest.raises(AuditKeyError, match="readable or writable by others \\(mode 0644\\).*chmod 600") as e:
        load_key(create=True)
    assert "abab" not in str(e.value)
    assert stat.S_IMODE(key_path().stat().st_mode) == 0o644  # never loosened, never tightened behind one's back
    key_path().chmod(0o400)
    assert load_key().secret == bytes.fromhex("ab" * 32)


async def test_an_unusable_key_refuses_all_but_a_rollback(store, db_url, monkeypatch):
    monkeypatch.setenv("GONOGO_AUDIT_KEY", "not a key")
    c = controller(store)
    r = await act(c, "advance")
    assert r.outcome == "refused" and "the audit key cannot be used: GONOGO_AUDIT_KEY" in r.message
    assert "not a key" not in r.message
    r = await act(c, "rollback")
    assert r.outcome == "done" and "NOT signed" in r.message


def test_concurrent_first_uses_agree_on_one_key():
    keys, errors = in_threads(lambda: load_key(create=True).secret, 16)
    assert errors == [] and len(keys) == 16 and len(set(keys)) == 1
    assert [p.name for p in key_path().parent.iterdir()] == ["audit.key"]


def test_the_environment_wins_over_the_file_and_takes_hex_or_base64(monkeypatch):
    raw = os.urandom(32)
    load_key(create=True)  # a key file exists
    for text in (raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode(),
                 base64.urlsafe_b64encode(raw).decode().rstrip("="), f"  {raw.hex()}\n"):
        monkeypatch.setenv("GONOGO_AUDIT_KEY", text)
        k = load_key()
        assert k.secret == raw and k.source == "GONOGO_AUDIT_KEY" and raw.hex() not in repr(k)


@pytest.mark.parametrize("value, says", [
    ("", "is empty"),
    ("ab" * 31, "holds 62 hex digits"),
    ("abc" * 31, "holds 93 hex digits"),
    (base64.b64encode(b"k" * 16).decode(), "decodes to 16 bytes"),
    ("correct horse battery staple!", "neither hex nor base64"),
])
def test_a_bad_key_value_is_a_clear_error_that_never_shows_it(value, says):
    with pytest.raises(AuditKeyError, match=says) as e:
        parse_key(value, "GONOGO_AUDIT_KEY")
    assert "64 or more hex digits" in str(e.value)
    if value:
        assert value not in str(e.value)


# --- the demo -------------------------------------------------------------------------------


async def test_the_demo_seed_writes_a_signed_trail(store, db_url):
    from console.demo.seed import seed

    await seed(db_url, ["api"], "phase_4_deployment", STEPS)
    c = controller(store, "phase_4_deployment")
    report = await c.verify_audit()
    assert report.verified and report.events == 2, report.problems
    assert (report.flags[0].percentage, report.flags[0].version, report.flags[0].state) == (10, 3, "soaking")
    await act(c, "hold")
    await seed(db_url, ["api"], "phase_4_deployment", STEPS, reset=True)  # starts over: still intact
    assert (await c.verify_audit()).verified


async def test_a_reseeded_demo_week_is_counted_once_in_the_rollups_and_histograms(store, db_url):
    from console.demo.seed import seed

    for reset in (False, True):
        await seed(db_url, ["api", "auth"], "phase_4_deployment", STEPS, reset=reset)
    with psycopg.connect(db_url) as conn:
        raw = conn.execute("select count(*) from gonogo.probe_results").fetchone()[0]
        counts = [conn.execute(f"select coalesce(sum({col}), 0) from gonogo.{t}").fetchone()[0]
                  for t, col in (("probe_minute", "total"), ("probe_hour", "total"),
                                 ("probe_minute_latency", "n"), ("probe_hour_latency", "n"))]
    assert raw > 7 * 24 * 60  # two targets, a week of one a minute
    assert counts == [raw] * 4
    with psycopg.connect(db_url) as conn:
        # The gates' evaluations too: one every 5 minutes a gate before the last hour
        # (at 15 s), never the week twice.
        hours = conn.execute("select gate, date_bin('1 hour', at, timestamptz 'epoch') as h, count(*)"
                             " from gonogo.gate_evaluations where at < (select max(at) from gonogo.gate_evaluations)"
                             " - interval '2 hours' group by 1, 2").fetchall()
    gates = {g for g, _, _ in hours}
    assert {"error_rate", "uptime", "daily_cost"} <= gates and len(hours) > 150 * len(gates)
    assert max(n for _, _, n in hours) == 12


# --- the pure signing (checks/audit.py) --------------------------------------------------


KEY = b"k" * 32
AT = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)


def ev(i, action="advance", f=0, t=5, **kw):
    return dict(id=i, at=AT + timedelta(hours=i), flag="f", operator="alice", action=action, from_pct=f, to_pct=t,
                reason="ok", verdict="GO", gates={"error_rate": 0.01}, automatic=False, override=False, **kw)


def trail(key, *moves):
    rows, prev = [], None
    for i, (action, f, t) in enumerate(moves, start=1):
        e = ev(i, action, f, t)
        e.update(seal(key, prev, e))
        rows.append(e)
        prev = e
    return rows


def head_of(rows, key, **state):
    st = dict(percentage=rows[-1]["to_pct"] if rows else 0, state="soaking", version=len(rows) + 1,
              stage_started_at=AT, soak_elapsed_s=0.0, soak_resumed_at=AT, audit_head=link(rows[-1]) if rows else None,
              audit_count=len(rows))
    st.update(state)
    st["audit_sig"] = head_signature(key, dict(st, flag="f", last=st["audit_head"], count=st["audit_count"]))
    return st


def test_a_signature_depends_on_the_key_the_previous_link_and_every_field():
    e = ev(1)
    sig = event_signature(KEY, GENESIS, e)
    assert sig == event_signature(KEY, GENESIS, dict(e)) and len(sig) == 64
    assert sig != event_signature(b"K" * 32, GENESIS, e)
    assert sig != event_signature(KEY, "1" * 64, e)
    for name, other in [("reason", "x"), ("to_pct", 10), ("automatic", True), ("override", True), ("operator", "bob"),
                        ("at", AT + timedelta(microseconds=1)), ("gates", {"error_rate": 0.02}), ("flag", "g")]:
        assert event_signature(KEY, GENESIS, dict(e, **{name: other})) != sig, name
    # a timestamp signs as the same instant in any time zone
    assert event_signature(KEY, GENESIS, dict(e, at=e["at"].astimezone(timezone(timedelta(hours=2))))) == sig
    # and differs from the unkeyed hash of the same event
    assert sig != event_hash(GENESIS, e)


def test_seal_chains_over_the_previous_signature_and_without_a_key_leaves_it_unsigned():
    first = dict(ev(1), **seal(KEY, None, ev(1)))
    assert first["prev_hash"] == GENESIS and first["key_id"] == key_id(KEY)
    second = seal(KEY, first, ev(2, f=5, t=10))
    assert second["prev_hash"] == first["hash"]
    assert second["sig"] == event_signature(KEY, first["sig"], ev(2, f=5, t=10))
    bare = seal(None, first, ev(2, f=5, t=10))
    assert bare["sig"] is None and bare["key_id"] is None and bare["hash"] == second["hash"]
    assert key_id(KEY) != key_id(b"K" * 32) and KEY.hex()[:16] not in key_id(KEY)


def test_the_head_signature_covers_every_field():
    head = dict(flag="f", version=6, percentage=25, state="soaking", stage_started_at=AT, soak_elapsed_s=0.0,
                soak_resumed_at=AT, last="a" * 64, count=5)
    sig = head_signature(KEY, head)
    for name, other in [("flag", "g"), ("version", 7), ("percentage", 100), ("state", "complete"),
                        ("stage_started_at", AT - timedelta(hours=12)), ("soak_elapsed_s", 1.0),
                        ("soak_resumed_at", None), ("last", "b" * 64), ("count", 4)]:
        assert head_signature(KEY, dict(head, **{name: other})) != sig, name
    assert canonical_head(head) == canonical_head(dict(head, soak_elapsed_s=0))  # 0 and 0.0 sign alike


def test_verify_flag_passes_an_intact_trail_and_names_each_bad_event():
    rows = trail(KEY, ("advance", 0, 5), ("advance", 5, 10), ("hold", 10, 10))
    st = head_of(rows, KEY, state="held", soak_resumed_at=None)
    a = verify_flag("f", rows, st, key=KEY, last_step=100)
    assert a.problems == [] and a.signed == 3 and a.head_signed
    assert verify_flag("f", rows, st, key=None).problems == []
    edited = [dict(r) for r in rows]
    edited[1]["reason"] = "x"
    [p] = verify_flag("f", edited, st, key=KEY).problems
    assert p.event_id == 2 and "content does not match its hash" in p.why and "signature does not match" in p.why


@pytest.mark.parametrize("moves, bad_id, says", [
    ((("hold", 0, 0),), 1, "only a soaking rollout can hold, and it was idle"),
    ((("advance", 0, 5), ("resume", 5, 5)), 2, "only a held rollout can resume"),
    ((("advance", 0, 5), ("hold", 5, 5), ("advance", 5, 10)), 3, "a held rollout cannot advance"),
    ((("advance", 0, 5), ("rollback", 5, 5)), 2, "a rollback returns to 0 %"),
    ((("advance", 0, 5), ("advance", 10, 25)), 2, "starts at 10 %, but the events before it leave the rollout at 5 %"),
    ((("advance", 0, 5), ("advance", 5, 5)), 2, "an advance moves up"),
    ((("advance", 0, 5), ("promote", 5, 100)), 2, "is not one gonogo records"),
])
def test_the_replay_follows_the_state_machine(moves, bad_id, says):
    rows = trail(KEY, *moves)  # each one validly signed: only the replay can object
    found = {p.event_id: p.why for p in verify_flag("f", rows, None, key=KEY).problems}
    assert says in found[bad_id]


def test_the_replay_knows_complete_only_when_the_last_step_is_known():
    rows = trail(KEY, ("advance", 0, 50), ("advance", 50, 100))
    done = head_of(rows, KEY, state="complete", soak_resumed_at=None)
    assert verify_flag("f", rows, done, key=KEY, last_step=100).problems == []
    assert verify_flag("f", rows, done, key=KEY, last_step=None).problems == []
    soaking = head_of(rows, KEY, state="soaking")
    [p] = verify_flag("f", rows, soaking, key=KEY, last_step=100).problems
    assert p.event_id == 2 and "leaves it at 100 % (complete)" in p.why


# --- go/no-go reviews in the trail (issue 13) -------------------------------------------


def _canonical_before_reviews(event) -> str:
    """checks.audit.canonical as it was before reviews: every existing row hashed so."""
    import json as _json

    from checks.audit import FIELDS, _plain, finite_gates

    fields = {k: event[k] for k in FIELDS}
    fields["gates"] = finite_gates(fields["gates"] or {})
    return _json.dumps(fields, sort_keys=True, separators=(",", ":"), default=_plain)


def _review_decision(*, accepted=True, override=False):
    from checks.models import CriterionMark, ReviewDecision

    marks = (CriterionMark(gate="error_rate", value=0.02, shown="0.020 %", band="green", window="24h",
                           coverage=1.0, accepted=True),
             CriterionMark(gate="cost_daily", value=12.5, shown="$12.50", band="red", accepted=accepted,
                           note="over budget on Tue"))
    return ReviewDecision(decision="GO", reason="burn-in clean", present="ana, bo", criteria=marks, override=override)


def test_an_event_without_a_review_hashes_and_signs_exactly_as_before_reviews():
    import hashlib

    from checks.audit import canonical

    for e in (ev(1), dict(ev(1), review=None), dict(ev(2, "rollback", 5, 0), automatic=True)):
        assert canonical(e) == _canonical_before_reviews(e)
        assert event_hash(GENESIS, e) == hashlib.sha256((GENESIS + "\n" + _canonical_before_reviews(e)).encode()
                                                        ).hexdigest()
    # a trail sealed before reviews existed (rows with no review key at all) still verifies
    rows = trail(KEY, ("advance", 0, 5), ("advance", 5, 10))
    assert verify_flag("f", rows, head_of(rows, KEY), key=KEY, last_step=100).problems == []
    # and the review is covered: another decision, mark or note is another signature
    r = {"decision": "GO", "present": "", "criteria": [{"gate": "x", "accepted": True, "note": "", "value": 1.0}]}
    e = dict(ev(1, "review", 0, 0), review=r)
    sig = event_signature(KEY, GENESIS, e)
    for changed in ({**r, "decision": "NO-GO"}, {**r, "present": "eve"},
                    {**r, "criteria": [dict(r["criteria"][0], accepted=False)]},
                    {**r, "criteria": [dict(r["criteria"][0], note="x")]}):
        assert event_signature(KEY, GENESIS, dict(e, review=changed)) != sig
    # jsonb may read 1.0 back as 1: the same signature
    assert event_signature(KEY, GENESIS, dict(e, review={**r, "criteria": [dict(r["criteria"][0], value=1)]})) == sig


def test_the_replay_lets_a_review_stand_where_the_rollout_is_and_nowhere_else():
    rows = trail(KEY, ("advance", 0, 5))
    for i, (f, t) in enumerate(((5, 5), (5, 10)), start=2):
        e = dict(ev(i, "review", f, t), review={"decision": "GO", "present": "", "criteria": []})
        e.update(seal(KEY, rows[-1], e))
        rows.append(e)
    found = {p.event_id: p.why for p in verify_flag("f", rows, None, key=KEY).problems}
    assert 2 not in found and "a review does not change the percentage" in found[3]
    # version counts changes only: one advance, two reviews → version 2
    ok = rows[:2]
    assert verify_flag("f", ok, head_of(ok, KEY, version=2), key=KEY, last_step=100).problems == []


async def test_an_existing_trail_keeps_its_hashes_and_verifies_with_a_review_appended(store, db_url):
    import hashlib

    c = controller(store)
    await story(c)
    prev = GENESIS
    for e in events(db_url):  # the rows written by this version hash as the old code hashed them
        assert e["hash"] == hashlib.sha256((prev + "\n" + _canonical_before_reviews(e)).encode()).hexdigest()
        prev = e["hash"]
    r = await c.record_review(_review_decision(), operator="carol", verdict=Verdict.GO)
    assert r.outcome == "done"
    report = await c.verify_audit()
    assert report.verified and report.events == 6
    assert (report.flags[0].version, report.flags[0].percentage) == (6, 25)


async def test_a_review_mark_edited_in_the_database_is_found(store, db_url):
    c = controller(store)
    await act(c, "advance")
    r = await c.record_review(_review_decision(accepted=False, override=True), operator="carol", verdict=Verdict.GO)
    assert r.outcome == "done" and r.override
    await act(c, "advance")
    rid = events(db_url)[1]["id"]
    # someone turns the cost criterion into "accepted", and only that
    as_superuser(db_url, ("update gonogo.rollout_events"
                          " set review = jsonb_set(review, '{criteria,1,accepted}', 'true') where id = %s", (rid,)))
    found = await problems(c)
    assert [eid for eid, _ in found] == [rid] and "content does not match its hash" in found[0][1]
    assert "signature does not match" in found[0][1]
