"""The engine against a real database and a real HTTP endpoint."""
import asyncio
import contextlib
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from checks.models import Band, ProbeResult, Verdict
from checks.burn_in import count_clean_days
from console.engine import Engine
from console.store.db import Store

from .conftest import make_config, quick_config, wait_for


@contextlib.asynccontextmanager
async def running(config, *, before=None, **kw):
    """An engine running on its own store; `before(engine)` adjusts it before it starts."""
    store = Store(config.database.url, connect_timeout=1)
    await store.open()
    await store.migrate()
    engine = Engine(config, store, **kw)
    if before is not None:
        before(engine)
    task = asyncio.create_task(engine.run())
    try:
        yield engine
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.aclose()
        await store.close()


def gate(snap, name):
    return next(g for g in snap.gates if g.name == name)


async def test_healthy_service_is_go_then_errors_turn_it_red(db_url, health_server):
    base, state = health_server
    config = quick_config(db_url, base, targets=("api", "auth"))
    async with running(config) as engine:
        await wait_for(None, lambda: engine.snapshot and engine.snapshot.verdict is Verdict.GO, what="GO")
        snap = engine.snapshot
        assert gate(snap, "error_rate").value == 0.0
        assert gate(snap, "checks_passing").detail == "2/2 healthy"
        assert snap.leader and snap.database.ok
        state.status = 503
        await wait_for(None, lambda: engine.snapshot.verdict is Verdict.ROLLBACK, what="ROLLBACK")
        er = gate(engine.snapshot, "error_rate")
        assert er.band is Band.RED and er.value > 1.0
        assert any(r.startswith("error_rate red") for r in engine.snapshot.reasons)
        # the engine's own rule raises an alert for the red gate
        await wait_for(None, lambda: any(a.fingerprint == "rule:gate:error_rate" and a.severity == "critical"
                                         for a in engine.snapshot.alerts), what="rule alert")
    with psycopg.connect(db_url) as c:
        reasons = {r[0] for r in c.execute("select reason from gonogo.probe_results where not ok")}
        assert reasons == {"HTTP 503"}


async def test_old_probe_data_is_stale_and_never_green(db_url, health_server):
    base, _ = health_server
    config = make_config(db_url, base)
    store = Store(db_url)
    await store.open()
    await store.migrate()
    old = datetime.now(timezone.utc) - timedelta(seconds=30)  # 30 s > 2 x 1 s interval
    await store.insert_probes([ProbeResult(target="api", at=old, ok=True, status=200, latency_ms=50)])
    engine = Engine(config, store, lead=False)
    snap = await engine.evaluate()
    await engine.aclose()
    await store.close()
    er = gate(snap, "error_rate")
    assert er.stale and er.band is Band.UNKNOWN and er.value == 0.0
    assert "last probe 30s ago" in er.detail or "last probe 3" in er.detail
    assert snap.verdict is Verdict.HOLD


async def test_sql_gate_faults_are_the_gates_not_the_databases(db_url, health_server):
    base, _ = health_server
    gates = [
        {"name": "bad_sql", "source": "sql", "query": "select * from no_such_table", "green": "< 1", "red": "> 5"},
        {"name": "slow_sql", "source": "sql", "query": "select pg_sleep(2)::text::int", "timeout": "300ms", "green": "< 1", "red": "> 5"},
        {"name": "good_sql", "source": "sql", "query": "select 0", "green": "< 1", "red": "> 5"},
    ]
    config = make_config(db_url, base, gates=gates, auto_rollback={"gates": []})
    async with running(config) as engine:
        await wait_for(None, lambda: engine.snapshot and gate(engine.snapshot, "good_sql").band is Band.GREEN
                       and gate(engine.snapshot, "slow_sql").detail.startswith("timed out"), what="sql gates evaluated")
        snap = engine.snapshot
        assert snap.database.ok
        assert 'relation "no_such_table" does not exist' in gate(snap, "bad_sql").detail
        assert gate(snap, "slow_sql").detail == "timed out after 300ms"
        assert gate(snap, "bad_sql").band is Band.UNKNOWN


async def test_database_stopped_for_real_goes_stale_and_recovers(stoppable_pg, health_server):
    base, state = health_server
    config = quick_config(stoppable_pg.url, base)
    async with running(config) as engine:
        await wait_for(None, lambda: engine.snapshot and engine.snapshot.verdict is Verdict.GO, what="GO")
        stoppable_pg.stop()
        down_at = datetime.now(timezone.utc)
        await wait_for(None, lambda: not engine.snapshot.database.ok, what="database marked down")
        snap = engine.snapshot
        assert snap.verdict is Verdict.HOLD  # stale is unknown, never GO
        assert all(g.band is Band.UNKNOWN for g in snap.gates)
        assert gate(snap, "error_rate").value == 0.0  # the last known value is kept
        hits = state.hits  # probes keep running meanwhile: the service sees two more
        await wait_for(None, lambda: state.hits >= hits + 2, what="probes while the database is away")
        stoppable_pg.start()
        up_at = datetime.now(timezone.utc)
        await wait_for(None, lambda: engine.snapshot.database.ok and engine.snapshot.verdict is Verdict.GO,
                       timeout=30, what="recovery")
    with psycopg.connect(stoppable_pg.url) as c:
        n = c.execute("select count(*) from gonogo.probe_results where at between %s and %s", (down_at, up_at)).fetchone()[0]
    assert n >= 1  # probes taken while the database was away were kept and written later


def test_clean_days_count_back_from_today():
    d = lambda n: datetime(2026, 11, 25, tzinfo=timezone.utc) - timedelta(days=n)  # noqa: E731
    assert count_clean_days([(d(0), 100), (d(1), 99.99), (d(2), 99.5), (d(3), 100)], 99.98) == 2
    assert count_clean_days([(d(0), 99.0)], 99.98) == 0
    assert count_clean_days([(d(0), 100), (d(2), 100)], 99.98) == 1  # a day without data breaks the run
    assert count_clean_days([], 99.98) == 0


async def _rollout_at_10(db_url):
    with psycopg.connect(db_url) as c:
        c.execute("insert into gonogo.rollout_state (flag, percentage, state, version, stage_started_at, soak_resumed_at)"
                  " values ('phase_4_deployment', 10, 'soaking', 5, now(), now())"
                  " on conflict (flag) do update set percentage = 10, state = 'soaking', version = 5,"
                  " stage_started_at = now(), soak_resumed_at = now()")


def _auto_config(db_url, base, **extra):
    # Every duration scaled down together (probes and refresh every 250 ms, a 1 s window,
    # a 3 s sustain): a breach shorter than the sustain minus the window never rolls back.
    return make_config(
        db_url, base, interval="250ms",
        gates=[{"name": "error_rate", "source": "probe", "window": "1s"}],
        console={"refresh": "250ms", "operator": "tester"},
        auto_rollback={"enabled": True, "gates": ["error_rate"], "sustain": "3s", "consecutive": 3},
        **extra,
    )


async def test_sustained_breach_rolls_back_automatically_and_is_audited(db_url, health_server):
    base, state = health_server
    async with running(_auto_config(db_url, base), record_every=timedelta(milliseconds=250)) as engine:
        await wait_for(None, lambda: engine.snapshot and engine.snapshot.verdict is Verdict.GO, what="GO")
        await _rollout_at_10(db_url)
        state.status = 503
        await wait_for(None, lambda: engine.snapshot.rollout and engine.snapshot.rollout.state == "rolled_back",
                       timeout=30, what="auto-rollback")
    with psycopg.connect(db_url) as c:
        ev = c.execute("select operator, action, from_pct, to_pct, automatic, reason from gonogo.rollout_events").fetchall()
        red = c.execute("select count(*) from gonogo.gate_evaluations where band = 'red'").fetchone()[0]
    assert len(ev) == 1
    operator, action, f, t, automatic, reason = ev[0]
    assert (action, f, t, automatic) == ("rollback", 10, 0, True)
    assert "error_rate red (> 1) sustained for 3s over" in reason
    assert red >= 3


async def test_a_short_blip_does_not_roll_back(db_url, health_server):
    sustain, record_every = timedelta(seconds=3), timedelta(milliseconds=250)  # _auto_config's sustain
    base, state = health_server
    async with running(_auto_config(db_url, base), record_every=record_every) as engine:
        await wait_for(None, lambda: engine.snapshot and engine.snapshot.verdict is Verdict.GO, what="GO")
        await _rollout_at_10(db_url)
        state.status = 503
        await wait_for(None, lambda: engine.snapshot.verdict is Verdict.ROLLBACK, what="red")
        red_at = engine.snapshot.at
        await asyncio.sleep(0.5)  # the blip: red for about 0.5 s + the 1 s window, well under the 3 s sustain
        state.status = 200
        await wait_for(None, lambda: engine.snapshot.verdict is Verdict.GO, timeout=20, what="recovered")
        # Judged again past the moment a run that began with the blip would have been sustained.
        await wait_for(None, lambda: engine.snapshot.at > red_at + sustain + 4 * record_every, timeout=20,
                       what="evaluations past the sustain")
        assert engine.snapshot.rollout.state == "soaking" and engine.snapshot.rollout.percentage == 10
    with psycopg.connect(db_url) as c:
        assert c.execute("select count(*) from gonogo.rollout_events").fetchone()[0] == 0


def _timed_config(db_url, base):
    return make_config(
        db_url, base, interval="500ms",
        gates=[{"name": "error_rate", "source": "probe", "window": "1s"}],
        console={"refresh": "500ms", "operator": "tester"},
        auto_rollback={"enabled": True, "gates": ["error_rate"], "sustain": "5s", "consecutive": 3},
    )


@pytest.mark.serial  # the rollback is timed against the wall clock
async def test_a_sustained_breach_rolls_back_on_time_and_a_2s_spike_does_not(db_url, health_server):
    """sustain 5 s, consecutive 3, refresh 500 ms (probes as often), evaluations
    recorded every 15 s as in production: the breach is counted at the refresh rate,
    so it rolls back within 12.5 s of the service failing (counted at the record rate
    it would take 30 s); a 2 s spike (red ~3 s with its 1 s window) does not. Measured
    on the real clock: the windows are the database's."""
    import time

    sustain = timedelta(seconds=5)
    base, state = health_server
    async with running(_timed_config(db_url, base)) as engine:
        await wait_for(None, lambda: engine.snapshot and engine.snapshot.verdict is Verdict.GO, what="GO")
        await _rollout_at_10(db_url)
        spike_at = engine.snapshot.at
        state.status = 503
        await asyncio.sleep(2)
        state.status = 200
        await wait_for(None, lambda: engine.snapshot.verdict is Verdict.GO, timeout=20, what="recovered from the spike")
        # Judged again past the moment a run that began with the spike would have been sustained.
        await wait_for(None, lambda: engine.snapshot.at > spike_at + sustain + timedelta(seconds=3), timeout=20,
                       what="evaluations past the sustain")
        assert engine.snapshot.rollout.state == "soaking", "a 2 s spike rolled back"
        t0 = time.monotonic()
        state.status = 503
        await wait_for(None, lambda: engine.snapshot.rollout.state == "rolled_back", timeout=40, what="auto-rollback")
        took = time.monotonic() - t0
    print(f"auto-rollback {took:.1f} s after the breach began")
    assert 5 <= took <= 12.5, f"rolled back {took:.1f} s after the breach began"
    with psycopg.connect(db_url) as c:
        assert c.execute("select count(*) from gonogo.rollout_events where automatic").fetchone()[0] == 1
