"""Faults of the database seen by the store and the engine: a leader's lost connection,
a buffer written twice, the buffer going back in batches, a stale postmaster.pid, a
long outage, and migration 7's clean-up of duplicates. The crash loops of a whole
`gonogo watch` or console: tests/test_outage_watch.py, tests/test_outage_console.py."""
from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from checks.models import ProbeResult


async def test_a_leader_loses_the_lead_only_to_another_holder_never_to_a_failed_connection(store, db_url):
    from console.store.db import Store, StoreUnavailable

    assert await store.hold_leadership("flag")
    # Its own session dies with the connection on our side only (a network cut): the
    # server keeps the orphaned session and its lock; the leader takes it back.
    orphan = store._leader_conn
    store._leader_conn = await psycopg.AsyncConnection.connect(db_url, autocommit=True)
    await store._leader_conn.close()
    try:
        assert await store.hold_leadership("flag")
        assert store._leader_conn is not orphan
    finally:
        await orphan.close()
    # Another process holding the lock is the one answer that means "not the leader".
    other = Store(db_url)
    await other.open()
    try:
        assert not await other.hold_leadership("flag")
        # A database that cannot be reached says nothing about who leads.
        away = Store("postgresql://nobody@/nowhere?host=/nonexistent-socket-dir", connect_timeout=1)
        with pytest.raises(StoreUnavailable):
            await away.hold_leadership("flag")
    finally:
        await other.close()


async def test_a_buffer_written_twice_counts_once_in_rows_and_rollups(store, db_url):
    at = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=3)
    batch = [ProbeResult(target="api", at=at + timedelta(seconds=i), ok=i % 4 != 0, status=200 if i % 4 else 503,
                         latency_ms=10.0) for i in range(90)]
    await store.insert_probes(batch[:60])
    await store.insert_probes(batch)  # the first 60 again (a retried batch, a leader change), then 30 new
    await store.insert_probes(batch[30:])
    with psycopg.connect(db_url) as c:
        rows = c.execute("select count(*), count(*) filter (where ok) from gonogo.probe_results").fetchone()
        minute = c.execute("select sum(total), sum(ok), sum(http_5xx) from gonogo.probe_minute").fetchone()
        hour = c.execute("select sum(total), sum(ok), sum(http_5xx) from gonogo.probe_hour").fetchone()
        buckets = c.execute("select bucket, total from gonogo.probe_minute order by bucket").fetchall()
    assert rows == (90, 67)
    assert tuple(minute) == (90, 67, 23) and tuple(hour) == (90, 67, 23)
    # each buffered probe kept its own time: the rollups put it in its own minute
    assert sum(t for _, t in buckets) == 90 and all(b.second == 0 for b, _ in buckets)
    assert [b for b, _ in buckets][0] == at.replace(second=0)


async def test_the_buffer_goes_back_in_batches_and_waits_while_the_database_is_away(store, db_url, health_server):
    from console import engine as engine_mod
    from console.engine import PROBE_FLUSH_BATCH, Engine
    from console.store.db import StoreUnavailable

    from .conftest import make_config

    base, _ = health_server
    eng = Engine(make_config(db_url, base), store)
    now = datetime.now(timezone.utc)
    n = 2 * PROBE_FLUSH_BATCH + 123
    eng._buffer.extend(ProbeResult(target="api", at=now - timedelta(milliseconds=10 * i), ok=True, status=200,
                                   latency_ms=1.0) for i in range(n))
    sizes = []
    real = store.insert_probes

    async def away(batch):
        sizes.append(len(batch))
        raise StoreUnavailable("server down")

    store.insert_probes = away
    await eng._flush_probes()
    assert len(eng._buffer) == n and sizes == [PROBE_FLUSH_BATCH]  # nothing lost, nothing more tried

    async def counted(batch):
        sizes.append(len(batch))
        await real(batch)

    store.insert_probes = counted
    sizes.clear()
    await eng._flush_probes()
    assert sizes == [PROBE_FLUSH_BATCH, PROBE_FLUSH_BATCH, 123] and not eng._buffer
    with psycopg.connect(db_url) as c:
        assert c.execute("select count(*) from gonogo.probe_results").fetchone()[0] == n
    await eng.aclose()
    assert engine_mod.PROBE_BUFFER_MAX >= 10 * PROBE_FLUSH_BATCH


@pytest.mark.skipif(not Path("/proc/sysvipc/shm").exists(), reason="reads System V shared memory from /proc (Linux)")
def test_a_stale_postmaster_pid_is_cleared_only_when_no_old_process_holds_the_shared_memory(tmp_path, pg_server):
    from console.store.embedded import EmbeddedError, _clear_stale_lock, postmaster_state

    live = Path(pg_server.pgdata)
    alive, pid, _ = postmaster_state(live)
    assert alive and pid == pg_server.get_pid()
    real = (live / "postmaster.pid").read_text().splitlines()
    fake = tmp_path / "pgdata"
    fake.mkdir()
    assert postmaster_state(fake) == (False, None, "the embedded server stopped (no postmaster.pid)")
    # After a kill -9 the pid may be another program's (or a zombie nobody reaped):
    # PostgreSQL itself would refuse to start while it answers kill(pid, 0).
    me = os.getpid()

    def pidfile(shm: str) -> None:  # the live server's file, with our pid, data and socket directory
        lines = [str(me), str(fake), real[2], real[3], str(fake), real[5], shm, "ready"]
        (fake / "postmaster.pid").write_text("\n".join(lines) + "\n")

    pidfile(real[6])
    alive, pid, why = postmaster_state(fake)
    assert not alive and pid == me and "died" in why
    # the live server's shared memory is still attached: not touched
    with pytest.raises(EmbeddedError, match="still attached"):
        _clear_stale_lock(fake, me)
    assert (fake / "postmaster.pid").exists()
    # a segment nobody is attached to (here: none): the stale lock files go
    pidfile("  0    2147483000")
    (fake / ".s.PGSQL.5432.lock").write_text(f"{me}\n")
    _clear_stale_lock(fake, me)
    assert not (fake / "postmaster.pid").exists() and not (fake / ".s.PGSQL.5432.lock").exists()


@pytest.mark.timeout(120)
async def test_after_a_long_outage_the_store_is_back_within_seconds_of_the_server(stoppable_pg):
    """The pool's reconnection backoff is bounded: it does not grow with the outage."""
    from console.store.db import Store, StoreUnavailable

    store = Store(stoppable_pg.url, connect_timeout=1)
    await store.open()

    async def works() -> bool:
        try:
            async with store.connection() as c:
                await c.execute("select 1")
            return True
        except StoreUnavailable:
            return False

    try:
        assert await works()
        stoppable_pg.stop()
        # Past 17 s: a doubling backoff (1, 2, 4, 8, 16 s: tries at about 1, 3, 7, 15 and
        # 31 s) would next try over 10 s after the server is back (measured 10.5-12 s with
        # a day's window; 0.2-3 s with RECONNECT_WINDOW's 10 s).
        end = time.monotonic() + 17
        while time.monotonic() < end:  # an evaluation's demand: one query a second
            assert not await works()
            await asyncio.sleep(1)
        await asyncio.to_thread(stoppable_pg.start)
        back = time.monotonic()
        while not await works():
            assert time.monotonic() - back < 6, "the store did not reconnect within 6 s of the server's return"
            await asyncio.sleep(0.5)
    finally:
        await store.close()


async def test_migration_7_removes_old_duplicates_and_their_counts_in_the_rollups(db_url, monkeypatch):
    from console.store import db as dbmod
    from console.store.db import Store
    from console.store.schema import MIGRATIONS

    assert 7 in [v for v, _ in MIGRATIONS]
    store = Store(db_url)
    await store.open()
    try:
        monkeypatch.setattr(dbmod, "MIGRATIONS", [m for m in MIGRATIONS if m[0] < 7])
        assert await store.migrate() == 6
        at = datetime(2026, 11, 20, 10, 0, 30, tzinfo=timezone.utc)
        with psycopg.connect(db_url, autocommit=True) as c:
            # one probe written three times (the later copies differ: the first is kept), and one other
            for when, ok, status in ((at, True, 200), (at, True, 200), (at, False, 503),
                                     (at + timedelta(minutes=1), True, 200)):
                c.execute("insert into gonogo.probe_results (target, at, ok, status) values ('api', %s, %s, %s)",
                          (when, ok, status))
            before = c.execute("select sum(total) from gonogo.probe_minute").fetchone()[0]
        assert before == 4
        monkeypatch.setattr(dbmod, "MIGRATIONS", [m for m in MIGRATIONS if m[0] <= 7])
        assert await store.migrate() == 7
        with psycopg.connect(db_url) as c:
            rows = c.execute("select at, ok from gonogo.probe_results order by at, id").fetchall()
            minute = c.execute("select bucket, total, ok, http_5xx from gonogo.probe_minute order by bucket").fetchall()
            hour = c.execute("select total, ok, http_5xx from gonogo.probe_hour").fetchall()
            index = c.execute("select indexdef from pg_indexes where indexname = 'probe_results_target_at'").fetchone()
        assert rows == [(at, True), (at + timedelta(minutes=1), True)]  # the first of the three kept
        assert [m[1:] for m in minute] == [(1, 1, 0), (1, 1, 0)] and hour == [(2, 2, 0)]
        # the gates' index, now unique: same name, same columns and order (EXPLAIN tests in test_store)
        assert index is not None and "UNIQUE" in index[0] and "(target, at DESC)" in index[0], index
    finally:
        await store.close()
