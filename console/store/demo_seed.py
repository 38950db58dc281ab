"""The demo's statements: its own schema (the simulated service's test runs,
incidents, costs and events, which the demo's SQL gates read) and a believable
7-day burn-in written inside PostgreSQL, one statement per table (the seeded week
is written by the database, not by Python).

What the week holds and when it is reused is decided in console/demo/seed.py; the
rollout's history is written with the controller's own statements
(console/store/rollout.py), so the demo's trail is signed and chained like any other.
"""
from __future__ import annotations

from datetime import datetime, timedelta

DEMO_SCHEMA = """
create schema if not exists demo;
create table if not exists demo.meta (key text primary key, value text not null);
create table if not exists demo.test_runs (at timestamptz not null, suite text not null, passed boolean not null);
create index if not exists test_runs_at on demo.test_runs (at);
create table if not exists demo.incidents (id serial primary key, severity text not null, title text not null,
    opened_at timestamptz not null, closed_at timestamptz);
create table if not exists demo.costs (day date primary key, dollars numeric(10,2) not null);
create table if not exists demo.events (at timestamptz not null, severity text not null, name text not null, summary text);
"""

# Everything the demo's story is made of; the rollups and their histograms go with the
# probe rows, or a reseeded week would be read twice from the rollups.
_DEMO_TABLES = (
    "gonogo.probe_results, gonogo.probe_minute, gonogo.probe_hour, gonogo.probe_minute_latency,"
    " gonogo.probe_hour_latency, gonogo.gate_evaluations, gonogo.alerts, gonogo.rollout_events,"
    " gonogo.feature_flags, demo.test_runs, demo.incidents, demo.costs, demo.events"
)


async def create_schema(conn) -> None:
    await conn.execute(DEMO_SCHEMA)


async def recall(conn) -> dict[str, str]:
    """What the demo remembered (`burn_in_start`, `service_port`); empty before a seed."""
    exists = await (await conn.execute("select to_regclass('demo.meta') is not null")).fetchone()
    if not exists[0]:
        return {}
    return dict(await (await conn.execute("select key, value from demo.meta")).fetchall())


async def newest_probe(conn) -> datetime | None:
    return (await (await conn.execute("select max(at) from gonogo.probe_results")).fetchone())[0]


async def empty(conn) -> None:
    """Empty the demo's story. The audit trail is append-only; only the demo, starting
    its story over, lifts that for the one statement that empties its own trail."""
    await conn.execute("alter table gonogo.rollout_events disable trigger rollout_events_no_truncate")
    await conn.execute(f"truncate {_DEMO_TABLES}")
    await conn.execute("alter table gonogo.rollout_events enable trigger rollout_events_no_truncate")
    await conn.execute("select setseed(0.42)")


async def write_week(conn, targets: list[str], *, start: datetime, now: datetime) -> None:
    """Probes, test runs, incidents, costs, events and an hour of gate trend."""
    # One probe a minute per target for the week; the live probes take over from now.
    # Day one has a short blip (not clean), the rest is clean: 6 clean days of 7.
    blip = start + timedelta(hours=9)
    await conn.execute(
        """
        insert into gonogo.probe_results (target, at, ok, status, latency_ms, reason)
        select t, at,
               not blip, case when blip then 503 else 200 end,
               round((45 + 60 * random() + case when random() < 0.03 then 150 * random() else 0 end)::numeric, 1),
               case when blip then 'HTTP 503' else '' end
        from unnest(%s::text[]) t,
             generate_series(%s::timestamptz, %s::timestamptz, interval '1 minute') at,
             lateral (select (at between %s::timestamptz and %s::timestamptz + interval '3 minutes'
                              and t = %s) as blip) b
        """,
        (targets, start, now - timedelta(minutes=1), blip, blip, targets[-1]),
    )
    await conn.execute(
        """
        insert into demo.test_runs (at, suite, passed)
        select at, s, random() > 0.006
        from generate_series(%s::timestamptz, %s::timestamptz, interval '20 minutes') at,
             unnest(array['unit', 'integration', 'e2e', 'contract']) s
        """,
        (start, now),
    )
    await conn.execute(
        "insert into demo.incidents (severity, title, opened_at, closed_at) values"
        " ('P2', 'search reindex slowed queries', %s, %s),"
        " ('P3', 'billing webhook retries', %s, %s)",
        (now - timedelta(days=5, hours=3), now - timedelta(days=5, hours=2),
         now - timedelta(days=2), now - timedelta(days=2) + timedelta(minutes=40)),
    )
    await conn.execute(
        """
        insert into demo.costs (day, dollars)
        select d::date, round((6.2 + 2.4 * random())::numeric, 2)
        from generate_series(%s::date, %s::date, interval '1 day') d
        """,
        (start.date(), now.date()),
    )
    await conn.execute(
        "insert into demo.events (at, severity, name, summary) values"
        " (%s, 'info', 'canary at 10 %%', 'phase_4_deployment advanced 5 %% → 10 %%'),"
        " (%s, 'warning', 'auto-heal: worker restarted', 'memory above 90 %% for 10 minutes')",
        (now - timedelta(hours=5), now - timedelta(hours=2, minutes=12)),
    )
    # An hour of trend so the sparklines mean something on the first frame.
    await conn.execute(
        """
        insert into gonogo.gate_evaluations (at, gate, value, band)
        select at, g, case g when 'error_rate' then 0.02 * random()
                             when 'p95_latency' then 110 + 40 * random()
                             when 'checks_passing' then 100
                             when 'uptime' then 99.99 end, 'green'
        from generate_series(%s::timestamptz, %s::timestamptz, interval '15 seconds') at,
             unnest(array['error_rate', 'p95_latency', 'checks_passing', 'uptime']) g
        """,
        (now - timedelta(hours=1), now - timedelta(seconds=15)),
    )


async def remember(conn, key: str, value: str) -> None:
    await conn.execute(
        "insert into demo.meta (key, value) values (%s, %s) on conflict (key) do update set value = excluded.value",
        (key, value),
    )
