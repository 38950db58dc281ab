"""The alert rules after the demo's `n` (console/engine/alert_rules.py): `n` empties the
alerts and seeds a clean week, while the engine's newest snapshot may still be the one
the fault made, and a rules pass may be half done. No pass may raise again, from that
snapshot or from reads made before the reseed, what the reseed cleared."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import psycopg

from checks.models import Band, Bands, Condition, GateReading, Snapshot, Verdict
from console.config import packaged_config
from console.demo.seed import seed
from console.engine.alert_rules import AlertRules
from console.store import demo_seed

from .conftest import make_config

TARGETS = ["api", "auth", "billing", "search", "worker"]
BANDS = Bands(green=Condition.parse("< 0.1"), red=Condition.parse("> 1.0"))


def snapshot(band: Band, *, value: float = 0.0, sql_band: Band | None = None,
             sql_observed: datetime | None = None) -> Snapshot:
    """The engine's snapshot evaluated now: the error rate in `band`, and, if asked, a
    SQL gate whose last answer (in `sql_band`) was observed at `sql_observed`."""
    now = datetime.now(timezone.utc)
    gates = [GateReading(name="error_rate", value=value, band=band, unit="%", bands=BANDS, observed_at=now)]
    if sql_band is not None:
        gates.append(GateReading(name="critical_alerts", value=1, band=sql_band, source="sql",
                                 observed_at=sql_observed))
    return Snapshot(at=now, verdict=Verdict.GO if band is Band.GREEN else Verdict.ROLLBACK, gates=tuple(gates))


def open_rule_alerts(db_url: str) -> set[str]:
    with psycopg.connect(db_url) as c:
        return {fp for (fp,) in c.execute(
            "select fingerprint from gonogo.alerts where source = 'rule' and resolved_at is null")}


def episodes(db_url: str) -> int:
    with psycopg.connect(db_url) as c:
        return c.execute("select count(*) from gonogo.alert_episodes").fetchone()[0]


async def reseed(db_url: str) -> None:
    """What `n` does once the fault's probes are in (console/demo/controls.py)."""
    config = packaged_config()
    await seed(db_url, TARGETS, config.rollout.flag, config.rollout.steps, reset=True, config=config)


async def rules_before_and_during_a_fault(store, db_url) -> tuple[AlertRules, Snapshot]:
    """A clean week, the rules run on it, then a fault's red snapshot raises its alert."""
    await reseed(db_url)
    rules = AlertRules(make_config(db_url, "http://127.0.0.1:9", targets=TARGETS), store)
    await rules.apply(snapshot(Band.GREEN))
    assert open_rule_alerts(db_url) == set()
    red = snapshot(Band.RED, value=7.5)
    await rules.apply(red)
    assert open_rule_alerts(db_url) == {"rule:gate:error_rate"}
    return rules, red


async def test_the_snapshot_taken_before_n_does_not_raise_again_what_n_cleared(store, db_url):
    rules, red = await rules_before_and_during_a_fault(store, db_url)
    await reseed(db_url)
    assert open_rule_alerts(db_url) == set() and episodes(db_url) == 0
    # The next pass comes before the next evaluation: the newest snapshot is the fault's.
    await rules.apply(red)
    assert open_rule_alerts(db_url) == set() and episodes(db_url) == 0
    # Snapshots evaluated after the reseed are judged as ever: clean, then a new fault.
    await rules.apply(snapshot(Band.GREEN))
    assert open_rule_alerts(db_url) == set()
    await rules.apply(snapshot(Band.RED, value=3.0))
    assert open_rule_alerts(db_url) == {"rule:gate:error_rate"}


async def test_a_pass_that_began_before_n_and_writes_after_it_does_not_raise_again(store, db_url):
    """The pass holds the fault's snapshot and waits on the probe tables, which the
    reseed's transaction has locked; it reads and writes once the reseed committed."""
    rules, red = await rules_before_and_during_a_fault(store, db_url)
    now = datetime.now(timezone.utc)
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        async with conn.transaction():
            await conn.execute("lock table gonogo.probe_results, gonogo.probe_minute, gonogo.probe_hour"
                               " in access exclusive mode")
            pass_ = asyncio.create_task(rules.apply(red))
            for _ in range(200):  # until the pass waits on the lock
                cur = await conn.execute("select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
                                         " and datname = current_database()")
                if (await cur.fetchone())[0]:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the rules pass never waited on the reseed's lock")
            await demo_seed.empty(conn)
            await demo_seed.write_week(conn, TARGETS, start=now - timedelta(days=6, hours=18), now=now)
        await asyncio.wait_for(pass_, 10)
    assert open_rule_alerts(db_url) == set() and episodes(db_url) == 0


async def test_a_query_gate_answered_before_n_waits_for_its_next_answer(store, db_url):
    """The `critical_alerts` SQL gate counted the fault's alert: its last answer, from
    before the reseed, still says yellow in the first snapshots after it. It is neither
    raised nor resolved until it is answered again."""
    rules, _ = await rules_before_and_during_a_fault(store, db_url)
    before = datetime.now(timezone.utc)
    await rules.apply(snapshot(Band.RED, value=7.5, sql_band=Band.YELLOW, sql_observed=before))
    assert open_rule_alerts(db_url) == {"rule:gate:error_rate", "rule:gate:critical_alerts"}
    await reseed(db_url)
    await rules.apply(snapshot(Band.GREEN, sql_band=Band.YELLOW, sql_observed=before))  # the next pass sees n
    await rules.apply(snapshot(Band.GREEN, sql_band=Band.YELLOW, sql_observed=before))
    assert open_rule_alerts(db_url) == set()
    # Answered again (still 1, say: an alert of the monitored system): judged as ever.
    await rules.apply(snapshot(Band.GREEN, sql_band=Band.YELLOW, sql_observed=datetime.now(timezone.utc)))
    assert open_rule_alerts(db_url) == {"rule:gate:critical_alerts"}
