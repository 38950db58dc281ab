"""The store against a real PostgreSQL (the embedded server)."""
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from checks.models import ProbeResult
from console.engine.gate_reads import probe_aggregate
from console.store.db import Store, StoreUnavailable

NOW = datetime.now(timezone.utc)


def probes(target, n, *, every=timedelta(seconds=5), fail_every=0, latency=lambda i: 100.0, end=None):
    end = end or datetime.now(timezone.utc)
    return [
        ProbeResult(
            target=target, at=end - i * every, ok=not (fail_every and i % fail_every == 0),
            status=503 if fail_every and i % fail_every == 0 else 200, latency_ms=latency(i),
        )
        for i in range(n)
    ]


async def test_migrations_are_versioned_and_idempotent(store, db_url):
    from console.store.schema import MIGRATIONS

    latest = MIGRATIONS[-1][0]
    assert await store.migrate() == latest
    assert await store.migrate() == latest
    with psycopg.connect(db_url) as c:
        assert c.execute("select count(*) from gonogo.schema_migrations").fetchone()[0] == len(MIGRATIONS)


async def test_probe_gates_over_raw_rows(store):
    # 60 probes over 5 minutes, every 10th failed, latencies 1..60 ms
    await store.insert_probes(probes("api", 60, every=timedelta(seconds=4), fail_every=10, latency=lambda i: float(i + 1)))
    await store.insert_probes(probes("old", 10, end=NOW - timedelta(hours=2)))
    er = await probe_aggregate(store, "error_rate", timedelta(minutes=5), ["api"])
    assert er.value == pytest.approx(100 * 6 / 60)
    assert er.detail == "6/60 failed"
    up = await probe_aggregate(store, "uptime", timedelta(minutes=5), ["api"])
    assert up.value == pytest.approx(90.0)
    p95 = await probe_aggregate(store, "p95_latency", timedelta(minutes=5), ["api"])
    assert p95.value == pytest.approx(57.05)  # percentile_cont over 1..60
    cp = await probe_aggregate(store, "checks_passing", timedelta(minutes=1), ["api", "old"])
    assert cp.value == 0.0  # api's latest probe (i=0) failed; "old" has none in the window
    assert cp.detail == "0/2 healthy; down: api, old"


async def test_long_windows_come_from_rollups_and_agree_with_raw(store, db_url):
    # two days of probes, one a minute, 1 % failed
    rows = probes("api", 2 * 24 * 60, every=timedelta(minutes=1), fail_every=100)
    await store.insert_probes(rows)
    with psycopg.connect(db_url) as c:
        raw = c.execute("select count(*) filter (where ok), count(*) from gonogo.probe_results where at > now() - interval '7 days'").fetchone()
        hour = c.execute("select sum(ok), sum(total) from gonogo.probe_hour").fetchone()
        minute = c.execute("select sum(ok), sum(total) from gonogo.probe_minute").fetchone()
    assert tuple(hour) == tuple(raw) == tuple(minute)
    up7 = await probe_aggregate(store, "uptime", timedelta(days=7), ["api"])
    assert up7.value == pytest.approx(100 * raw[0] / raw[1])
    up24 = await probe_aggregate(store, "uptime", timedelta(hours=24), ["api"])
    assert 98.5 < up24.value < 99.5


async def test_hot_queries_use_their_index(store, db_url):
    for t in range(10):  # 10 targets, 6 hours each: the 5-minute window is a sliver
        await store.insert_probes(probes(f"t{t}", 4000))
    with psycopg.connect(db_url) as c:
        c.execute("analyze gonogo.probe_results")
        plan = "\n".join(r[0] for r in c.execute(
            "explain select count(*) filter (where ok), count(*) from gonogo.probe_results"
            " where target = any(array['api']) and at > now() - interval '5 minutes'"
        ).fetchall())
    assert "Seq Scan" not in plan and "Index" in plan, plan
    assert "probe_results_target_at" in plan or "probe_results_at" in plan


async def test_sql_gate_is_read_only_and_time_limited(store):
    """Configured SQL goes through the store's sandbox (tests/test_sql_sandbox.py has the attacks)."""
    from console.store.sandbox import QueryRefused, QueryTimeout

    assert await store.sandbox.value("select 42", timedelta(seconds=1)) == 42.0
    assert await store.sandbox.value("select null::int", timedelta(seconds=1)) is None
    with pytest.raises(QueryRefused, match="read-only|permission denied"):
        await store.sandbox.value("insert into gonogo.alerts (fingerprint, source, severity, name) values ('x','x','x','x') returning 1", timedelta(seconds=1))
    with pytest.raises(QueryTimeout, match="timed out after 200ms"):
        await store.sandbox.value("select pg_sleep(3)", timedelta(milliseconds=200))
    with pytest.raises(QueryRefused, match="2 columns"):
        await store.sandbox.value("select 1, 2", timedelta(seconds=1))
    with pytest.raises(QueryRefused, match="not a number"):
        await store.sandbox.value("select 'abc'", timedelta(seconds=1))


async def test_alerts_raise_ack_resolve_and_reopen(store):
    await store.raise_alert("rule:x", "rule", "critical", "x red", "2 %")
    await store.raise_alert("rule:y", "rule", "warning", "y yellow", "")
    alerts = await store.recent_alerts()
    assert [a.name for a in alerts] == ["y yellow", "x red"]  # newest first
    await store.ack_alert("rule:x", "alice")
    await store.resolve_missing("rule", ["rule:x"])
    alerts = {a.fingerprint: a for a in await store.recent_alerts()}
    assert alerts["rule:x"].acked and alerts["rule:y"].summary.startswith("resolved")
    await store.raise_alert("rule:y", "rule", "warning", "y yellow", "again")
    alerts = {a.fingerprint: a for a in await store.recent_alerts()}
    assert not alerts["rule:y"].acked and alerts["rule:y"].summary == "again"


async def test_unreachable_database_is_a_clear_error():
    s = Store("postgresql://u:secret@127.0.0.1:1/x", connect_timeout=1)
    await s.open()
    try:
        with pytest.raises(StoreUnavailable) as e:
            await s.migrate()
        assert "secret" not in str(e.value)
    finally:
        await s.close()


async def test_only_one_leader(store, db_url):
    other = Store(db_url)
    await other.open()
    try:
        assert await store.hold_leadership("flag")
        assert not await other.hold_leadership("flag")
        assert await store.hold_leadership("flag")  # still ours
    finally:
        await other.close()


async def test_prune_goes_in_batches_and_keeps_what_is_inside_retention(store):
    from datetime import datetime, timezone

    from checks.models import ProbeResult

    now = datetime.now(timezone.utc)
    old = [ProbeResult(target=f"t{i % 7}", at=now - timedelta(days=3, seconds=i), ok=True, status=200, latency_ms=1.0)
           for i in range(12_000)]
    recent = [ProbeResult(target="t0", at=now - timedelta(seconds=i), ok=True, status=200, latency_ms=1.0)
              for i in range(100)]
    await store.insert_probes(old)
    await store.insert_probes(recent)
    deleted = await store.prune(timedelta(days=2), batch=5_000)
    assert deleted >= 12_000  # raw rows in batches of 5,000, and their old minute-rollup rows
    async with store.connection() as conn:
        assert (await (await conn.execute("select count(*) from gonogo.probe_results")).fetchone())[0] == 100
        # the per-hour rollup keeps the pruned days (long windows read it)
        assert (await (await conn.execute("select sum(total) from gonogo.probe_hour")).fetchone())[0] == 12_100
    assert await store.prune(timedelta(days=2), batch=5_000) == 0


async def test_outside_text_holding_nul_is_stored_as_the_screen_shows_it(store):
    # PostgreSQL text cannot hold NUL: an alert (Alertmanager's JSON may carry \u0000)
    # is stored with it written as \x00 rather than failing the write.
    await store.raise_alert("am:nul", "alertmanager", "critical", "disk\x00full", "at\x00 /var")
    alert = next(a for a in await store.recent_alerts() if a.fingerprint == "am:nul")
    assert (alert.name, alert.summary) == ("disk\\x00full", "at\\x00 /var")


async def test_a_gate_trend_is_bucketed_by_the_database_with_each_buckets_extremes(store, db_url):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with psycopg.connect(db_url) as c:
        # a week of evaluations every 15 s, flat at 0.02 but for one 15-second spike to 7.5
        c.execute("""
            insert into gonogo.gate_evaluations (at, gate, value, band)
            select at, g, case when g = 'error_rate' and at = %s then 7.5 else 0.02 end, 'green'
            from generate_series(%s::timestamptz, %s::timestamptz, interval '15 seconds') at,
                 unnest(array['error_rate', 'p95_latency']) g
        """, (now - timedelta(days=3, seconds=15 * 7), now - timedelta(days=7), now))
    week = await store.gate_trend("error_rate", now - timedelta(days=7), timedelta(minutes=15))
    assert 671 <= len(week) <= 673  # 7 days of 15-minute buckets
    assert [b for b, _, _ in week] == sorted(b for b, _, _ in week)
    assert all(b.minute % 15 == 0 and b.second == 0 for b, _, _ in week)
    spikes = [(lo, hi) for _, lo, hi in week if hi > 1]
    assert spikes == [(0.02, 7.5)]  # the spike is kept, not averaged away
    hour = await store.gate_trend("p95_latency", now - timedelta(hours=1), timedelta(minutes=1))
    assert 60 <= len(hour) <= 61 and {hi for _, _, hi in hour} == {0.02}


async def test_an_acked_alert_that_turns_critical_again_is_a_new_unacked_episode(store):
    """A gate red (acked), yellow, red again: the ack was for the first red, and the
    second must ring and stay on the banner like any new critical alert."""
    await store.raise_alert("rule:gate:error_rate", "rule", "critical", "error_rate red", "1.8 %")
    first = await store.alert_detail("rule:gate:error_rate")
    await store.ack_alert("rule:gate:error_rate", "alice")
    await store.raise_alert("rule:gate:error_rate", "rule", "warning", "error_rate yellow", "0.4 %")
    yellow = await store.alert_detail("rule:gate:error_rate")
    assert yellow.acked_by == "alice" and yellow.first_at == first.first_at  # calmer: the ack still holds
    await store.raise_alert("rule:gate:error_rate", "rule", "critical", "error_rate red", "2.1 %")
    red = await store.alert_detail("rule:gate:error_rate")
    assert red.acked_at is None and red.acked_by == "" and red.first_at > first.first_at
    (alert,) = [a for a in await store.recent_alerts() if a.fingerprint == "rule:gate:error_rate"]
    assert not alert.acked and alert.first_at == red.first_at  # a new loud event (checks.notices keys on it)
    # Still critical: the next raise is the same episode, and an ack holds.
    await store.ack_alert("rule:gate:error_rate", "bob")
    await store.raise_alert("rule:gate:error_rate", "rule", "critical", "error_rate red", "2.3 %")
    again = await store.alert_detail("rule:gate:error_rate")
    assert again.acked_by == "bob" and again.first_at == red.first_at


async def test_a_resolved_alert_raised_again_forgets_who_acked_it(store):
    await store.raise_alert("am:x", "alertmanager", "warning", "CertExpiry", "9 days", NOW - timedelta(hours=2))
    await store.ack_alert("am:x", "alice")
    await store.resolve_missing("alertmanager", [])
    await store.raise_alert("am:x", "alertmanager", "warning", "CertExpiry", "8 days", NOW - timedelta(minutes=1))
    detail = await store.alert_detail("am:x")
    assert (detail.acked_at, detail.acked_by, detail.resolved_at) == (None, "", None)
    assert detail.first_at == NOW - timedelta(minutes=1)


async def test_labels_are_stored_with_the_alert_and_read_back_by_its_detail(store):
    labels = {"instance": "node-3", "nul\x00": "at\x00 /var", "markup": "[b]x[/b]"}
    await store.raise_alert("am:l", "alertmanager", "critical", "DiskFull", "", NOW, labels=labels, labels_left_out=7)
    detail = await store.alert_detail("am:l")
    assert detail.labels == {"instance": "node-3", "nul\\x00": "at\\x00 /var", "markup": "[b]x[/b]"}
    assert detail.labels_left_out == 7
    await store.raise_alert("rule:cost", "rule", "critical", "cost over budget", "$12")
    assert (await store.alert_detail("rule:cost")).labels == {}


async def test_the_demo_critical_alerts_gate_counts_open_unacked_critical_alerts_but_not_restated_gates(store):
    """config.toml's critical_alerts query, run as configured SQL runs: the monitored
    system's alerts and the console's own (error rate over 1 h, cost, an auto-rollback)
    count; a rule alert that says again what a gate says does not (a red gate counted
    twice, and this gate's own alert counted by itself); nor does an acked or resolved one."""
    import asyncio
    import tomllib
    from pathlib import Path

    from console.store.sandbox import grant_reader

    await asyncio.to_thread(grant_reader, store.url)  # as the console does once it has migrated
    config = tomllib.loads((Path(__file__).resolve().parents[1] / "config.toml").read_text())
    (query,) = [g["query"] for g in config["gates"] if g["name"] == "critical_alerts"]

    async def count() -> float:
        return await store.sandbox.value(query, timedelta(seconds=2))

    assert await count() == 0
    await store.raise_alert("am:disk", "alertmanager", "critical", "DiskFull", "")
    await store.raise_alert("ev:1", "events", "P1", "payments down", "")
    await store.raise_alert("rule:error_rate_1h", "rule", "critical", "error rate over 1 h", "0.8 %")
    await store.raise_alert("rollout:auto_rollback:phase_4_deployment", "rollout", "critical", "auto-rollback", "")
    assert await count() == 4
    await store.raise_alert("rule:gate:error_rate", "rule", "critical", "error_rate red", "1.8 %")
    await store.raise_alert("rule:gate:critical_alerts", "rule", "critical", "critical_alerts red", "4")
    await store.raise_alert("am:cert", "alertmanager", "warning", "CertExpiry", "")
    assert await count() == 4
    await store.ack_alert("rule:error_rate_1h", "alice")
    await store.resolve_alerts(["am:disk"])
    assert await count() == 2


def episodes(db_url, fingerprint):
    with psycopg.connect(db_url) as c:
        return c.execute(
            "select severity, summary, first_at, resolved_at, acked_by from gonogo.alert_episodes"
            " where fingerprint = %s order by id", (fingerprint,)).fetchall()


async def test_each_alert_episode_is_a_row_that_later_episodes_leave_alone(store, db_url):
    """What a report for a past moment reads (migration 13): a new row when an alert
    begins an episode, its end and ack written on it, never overwritten by the next."""
    fp = "rule:gate:error_rate"
    await store.raise_alert(fp, "rule", "warning", "error_rate yellow", "0.4 %")
    await store.ack_alert(fp, "alice")
    await store.raise_alert(fp, "rule", "warning", "error_rate yellow", "0.6 %")  # the same episode
    await store.raise_alert(fp, "rule", "critical", "error_rate red", "1.8 %")  # a new one
    await store.ack_alert(fp, "bob")
    await store.resolve_missing("rule", [])
    await store.raise_alert(fp, "rule", "warning", "error_rate yellow", "0.5 %")
    (w_sev, w_sum, w_first, w_end, w_by), (c_sev, c_sum, c_first, c_end, c_by), (n_sev, _, n_first, n_end, n_by) = \
        episodes(db_url, fp)
    assert (w_sev, w_sum, w_by, c_sev, c_sum, c_by) == ("warning", "0.4 %", "alice", "critical", "1.8 %", "bob")
    assert w_end == c_first and c_end is not None and c_end <= n_first  # one after the other
    assert (n_sev, n_end, n_by) == ("warning", None, None)
    detail = await store.alert_detail(fp)
    assert (detail.first_at, detail.resolved_at, detail.acked_by) == (n_first, None, "")  # the live row, as before
    await store.resolve_alerts([fp])
    await store.resolve_alerts([fp])  # resolved already: nothing more ends
    assert [e[3] is not None for e in episodes(db_url, fp)] == [True, True, True]
    assert episodes(db_url, fp)[-1][3] == (await store.alert_detail(fp)).resolved_at


async def test_raises_of_a_new_alert_at_once_begin_one_episode(store, db_url):
    import asyncio

    await asyncio.gather(*(store.raise_alert("am:x", "alertmanager", "critical", "X", str(i), NOW) for i in range(4)))
    assert len(episodes(db_url, "am:x")) == 1


async def test_migration_13_keeps_each_alert_as_its_latest_episode(db_url, monkeypatch):
    from console.store import db as dbmod
    from console.store.schema import MIGRATIONS

    store = Store(db_url)
    await store.open()
    try:
        monkeypatch.setattr(dbmod, "MIGRATIONS", [m for m in MIGRATIONS if m[0] < 13])
        assert await store.migrate() == 12
        with psycopg.connect(db_url, autocommit=True) as c:
            c.execute("insert into gonogo.alerts (fingerprint, source, severity, name, summary, first_at, resolved_at,"
                      " acked_at, acked_by) values ('a', 'rule', 'critical', 'A', 'gone', %s, %s, %s, 'ana'),"
                      " ('b', 'events', 'P2', 'B', 'open', %s, null, null, null)",
                      (NOW - timedelta(days=2), NOW - timedelta(days=1), NOW - timedelta(days=1, hours=1),
                       NOW - timedelta(hours=3)))
        monkeypatch.setattr(dbmod, "MIGRATIONS", MIGRATIONS)
        assert await store.migrate() >= 13
        assert episodes(db_url, "a") == [("critical", "gone", NOW - timedelta(days=2), NOW - timedelta(days=1), "ana")]
        assert episodes(db_url, "b") == [("P2", "open", NOW - timedelta(hours=3), None, None)]
        with psycopg.connect(db_url) as c:  # known since it began: a report for a past moment still has it
            assert c.execute("select bool_and(seen_at = first_at) from gonogo.alert_episodes").fetchone()[0]
        await store.raise_alert("b", "events", "P2", "B", "open")  # goes on: no second episode
        await store.resolve_alerts(["b"])
        assert [e[3] is not None for e in episodes(db_url, "b")] == [True]
    finally:
        await store.close()
