"""The demo's statements: its own schema (the simulated service's test runs,
incidents, costs and events, which the demo's SQL gates read) and a believable
7-day burn-in written inside PostgreSQL, one statement per table (the seeded week
is written by the database, not by Python).

What the week holds and when it is reused is decided in console/demo/seed.py; the
rollout's history is written with the controller's own statements
(console/store/rollout.py), so the demo's trail is signed and chained like any other.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from checks.coverage import LONG_WINDOW
from checks.models import Bands
from checks.probe_windows import SHORT_WINDOW

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

PROBE_EVERY = timedelta(minutes=1)  # each target's seeded probes: on the minute
TEST_RUN_EVERY = timedelta(minutes=20)  # each suite of demo.test_runs runs this often

# Everything the demo's story is made of; the rollups and their histograms go with the
# probe rows, or a reseeded week would be read twice from the rollups.
_DEMO_TABLES = (
    "gonogo.probe_results, gonogo.probe_minute, gonogo.probe_hour, gonogo.probe_minute_latency,"
    " gonogo.probe_hour_latency, gonogo.gate_evaluations, gonogo.alerts, gonogo.alert_episodes,"
    " gonogo.rollout_events,"
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


async def newest_probes(conn, targets: list[str]) -> dict[str, datetime]:
    """Each target's newest probe written (the index on (target, at desc) answers it)."""
    cur = await conn.execute(
        "select t, (select max(at) from gonogo.probe_results where target = t) from unnest(%s::text[]) t",
        (targets,),
    )
    return {t: at for t, at in await cur.fetchall() if at is not None}


async def empty(conn) -> None:
    """Empty the demo's story. The audit trail is append-only; only the demo, starting
    its story over, lifts that for the one statement that empties its own trail."""
    await conn.execute("alter table gonogo.rollout_events disable trigger rollout_events_no_truncate")
    await conn.execute(f"truncate {_DEMO_TABLES}")
    await conn.execute("alter table gonogo.rollout_events enable trigger rollout_events_no_truncate")
    await conn.execute("select setseed(0.42)")


async def write_week(conn, targets: list[str], *, start: datetime, now: datetime) -> None:
    """Probes, test runs, incidents, costs and events (the gates' evaluations over
    them: `write_evaluations`)."""
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
             generate_series(%s::timestamptz, %s::timestamptz, %s::interval) at,
             lateral (select (at between %s::timestamptz and %s::timestamptz + interval '3 minutes'
                              and t = %s) as blip) b
        """,
        (targets, start, now - PROBE_EVERY, PROBE_EVERY, blip, blip, targets[-1]),
    )
    await conn.execute(
        """
        insert into demo.test_runs (at, suite, passed)
        select at, s, random() > 0.006
        from generate_series(%s::timestamptz, %s::timestamptz, %s::interval) at,
             unnest(array['unit', 'integration', 'e2e', 'contract']) s
        """,
        (start, now, TEST_RUN_EVERY),
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


# --- the gates' evaluations over the week ----------------------------------------------
#
# What a leader would have recorded while the week was probed: each gate's value at
# every moment of a grid (`pts`), worked out by the database from the rows written
# above, judged with the gate's bands, with the window and coverage it was judged over
# (migration 12's columns). One statement per gate, set-based: a window's sums are two
# lookups in running totals, never a re-read of the window for each moment; only the
# short windows a leader reads from raw rows (p95, healthy now) read their few rows by index.

# The SQL gates of the demo's own config whose answers the seeded tables can give for
# a past moment (their queries read `now()`/`current_date`, which cannot be moved back):
# each is replayed here as its query reads its table. Any other query gate's history
# starts when the demo does.
REPLAYED_SQL_GATES = ("test_pass_rate", "critical_alerts", "p1_incidents_7d", "daily_cost")


@dataclass(frozen=True)
class SeededGate:
    """One configured gate as the seed replays it (console/demo/seed.py builds these
    from the config)."""

    name: str
    kind: str  # a probe metric (checks.day1.PROBE_METRICS) or one of REPLAYED_SQL_GATES
    bands: Bands
    window_text: str  # as the leader records it: a probe gate's window, a query gate's interval
    unit: str = ""
    targets: tuple[str, ...] = ()  # probe gates: whose probes
    window: timedelta = timedelta(minutes=5)  # probe gates
    bucket: timedelta = timedelta(minutes=1)  # coverage is counted in these (checks.coverage.bucket_for)
    cover_texts: tuple[str, ...] = ()  # i: how `i` covered buckets of the window read (checks.coverage.describe)
    min_fraction: float = 0.0  # below either, the gate is UNKNOWN (checks.coverage.enough)
    min_samples: int = 0


_POINTS = """
pts as (
    select t from generate_series(%(first)s::timestamptz, %(recent)s::timestamptz, %(every)s::interval) t
    where t < %(recent)s
    union all
    select t from generate_series(%(recent)s::timestamptz, %(last)s::timestamptz, %(recent_every)s::interval) t
)"""

# error_rate and uptime: running totals of the minute rollup, one row a minute of the
# week, with the coverage buckets that hold a probe counted up as well (a bucket is
# counted at its first minute with data). The probes are written on the minute, so the
# minutes in (t − window, t] hold exactly the probes a raw read at t would see.
# Past two days a window starts at its hour, as the leader reads it from the hour rollup.
_COUNTS = """
m as (
    select bucket, sum(total) as total, sum(ok) as ok from gonogo.probe_minute
    where target = any(%(targets)s) group by bucket
), marked as (
    select g.b, coalesce(m.total, 0) as total, coalesce(m.ok, 0) as ok,
           (m.total > 0 and count(m.bucket) over (partition by date_bin(%(bucket)s, g.b, timestamptz 'epoch')
                                                 order by g.b) = 1) is true as first_of_bucket
    from generate_series(%(grid_from)s::timestamptz, %(grid_to)s::timestamptz, interval '1 minute') g(b)
    left join m on m.bucket = g.b
), grid as (
    select b, sum(total) over w as total, sum(ok) over w as ok,
           count(*) filter (where first_of_bucket) over w as covered
    from marked window w as (order by b)
), bounds as (
    select t, date_bin('1 minute', t, timestamptz 'epoch') as hi,
           case when %(hourly)s then date_bin('1 hour', t - %(window)s, timestamptz 'epoch')
                else date_bin('1 minute', t - %(window)s, timestamptz 'epoch') + interval '1 minute' end as lo
    from pts
), sums as (
    select s.t, coalesce(hi.total, 0) - coalesce(lo.total, 0) as total, coalesce(hi.ok, 0) - coalesce(lo.ok, 0) as ok,
           coalesce(hi.covered, 0) - coalesce(c.covered, 0) as covered
    from bounds s
    left join grid hi on hi.b = s.hi
    left join grid lo on lo.b = s.lo - interval '1 minute'
    left join grid c on c.b = date_bin(%(bucket)s, s.lo, timestamptz 'epoch') - interval '1 minute'
)"""

_ERROR_RATE = _COUNTS + """, judged as (
    select t, case when total > 0 then 100.0 * (total - ok) / total end as value, total as samples, covered,
           case when total > 0 then (total - ok) || '/' || total || ' failed' else 'no probes in window' end as said
    from sums
)"""

_UPTIME = _COUNTS + """, judged as (
    select t, case when total > 0 then 100.0 * ok / total end as value, total as samples, covered,
           case when total > 0 then ok || '/' || total || ' ok' else 'no probes in window' end as said
    from sums
)"""

# p95 over a short window: percentile_cont over the raw rows, exactly as the leader reads
# it (each target's rows by its (target, at) index).
_P95_RAW = """
judged as (
    select p.t, r.p95 as value, r.n as samples, r.covered,
           case when r.n > 0 then r.n || ' probes' else 'no probes in window' end as said
    from pts p cross join lateral (
        select percentile_cont(0.95) within group (order by x.latency_ms) as p95, count(x.latency_ms) as n,
               count(distinct date_bin(%(bucket)s, x.at, timestamptz 'epoch'))
                   filter (where x.latency_ms is not null) as covered
        from unnest(%(targets)s::text[]) tt(target)
        cross join lateral (
            select r.at, r.latency_ms from gonogo.probe_results r
            where r.target = tt.target and r.at > p.t - %(window)s and r.at <= p.t
        ) x
    ) r
)"""

# p95 over a longer window: the minute latency histograms counted up per bin, and the
# nearest-rank bin read as its middle (checks.latency_histogram, whose values are passed
# in: the formula is written once). Only a config with such a gate pays for it.
_P95_HIST = _COUNTS + """, h as (
    select bucket, bin, sum(n) as n from gonogo.probe_minute_latency where target = any(%(targets)s) group by 1, 2
), bins as (
    select distinct bin from h
), cells as (
    select g.b, bins.bin, sum(coalesce(h.n, 0)) over (partition by bins.bin order by g.b) as n
    from generate_series(%(grid_from)s::timestamptz, %(grid_to)s::timestamptz, interval '1 minute') g(b)
    cross join bins left join h on h.bucket = g.b and h.bin = bins.bin
), per_bin as (
    select s.t, hi.bin, hi.n - coalesce(lo.n, 0) as n
    from bounds s join cells hi on hi.b = s.hi
    left join cells lo on lo.b = s.lo - interval '1 minute' and lo.bin = hi.bin
), ranked as (
    select t, bin, sum(n) over (partition by t order by bin) as upto, sum(n) over (partition by t) as n
    from per_bin where n > 0
), p95 as (
    select t, min(bin) filter (where upto >= ceil(0.95 * n)) as bin, max(n) as n from ranked group by t
), judged as (
    select s.t, (%(bin_values)s::float8[])[(p.bin + 1)::int] as value, coalesce(p.n, 0) as samples, s.covered,
           case when p.n > 0 then p.n || ' probes' else 'no probes in window' end as said
    from sums s left join p95 p on p.t = s.t
)"""

# Targets whose newest probe in the window passed (the leader's "healthy now"); no coverage.
_CHECKS_PASSING = """
judged as (
    select p.t, case when r.seen > 0 then 100.0 * r.passing / cardinality(%(targets)s::text[]) end as value,
           null::bigint as samples, null::bigint as covered,
           case when r.seen > 0 then r.passing || '/' || cardinality(%(targets)s::text[]) || ' healthy'
                                     || coalesce('; down: ' || r.down, '')
                else 'no probes in window' end as said
    from pts p cross join lateral (
        select count(*) filter (where l.ok) as passing, count(l.ok) as seen,
               string_agg(tt.target, ', ' order by tt.i) filter (where l.ok is not true) as down
        from unnest(%(targets)s::text[]) with ordinality tt(target, i)
        left join lateral (
            select r.ok from gonogo.probe_results r
            where r.target = tt.target and r.at > p.t - %(window)s and r.at <= p.t order by r.at desc limit 1
        ) l on true
    ) r
)"""

# The demo's SQL gates, as their queries (config.toml) would have answered at t.
_SQL = {
    # `avg(passed)` over the runs in (t − 24 h, t]: running totals on the runs' own grid.
    "test_pass_rate": """
runs as (
    select at, sum(count(*)) over w as n, sum(count(*) filter (where passed)) over w as ok
    from demo.test_runs group by at window w as (order by at)
), judged as (
    select p.t, case when coalesce(hi.n, 0) - coalesce(lo.n, 0) > 0
                     then 100.0 * (hi.ok - coalesce(lo.ok, 0)) / (hi.n - coalesce(lo.n, 0)) end as value,
           case when coalesce(hi.n, 0) - coalesce(lo.n, 0) > 0 then '' else 'no data' end as said
    from pts p
    left join runs hi on hi.at = date_bin(%(runs_every)s, p.t, %(start)s::timestamptz)
    left join runs lo on lo.at = date_bin(%(runs_every)s, p.t - interval '24 hours', %(start)s::timestamptz)
)""",
    # The seeded week raised no alert (its events are info and warning): none firing.
    "critical_alerts": """
judged as (select t, 0.0::float8 as value, '' as said from pts)""",
    "p1_incidents_7d": """
judged as (
    select p.t, (select count(*) from demo.incidents i where i.severity = 'P1'
                 and i.opened_at > p.t - interval '7 days' and i.opened_at <= p.t)::float8 as value,
           '' as said
    from pts p
)""",
    "daily_cost": """
judged as (
    select p.t, coalesce((select sum(dollars) from demo.costs c where c.day = p.t::date), 0)::float8 as value,
           '' as said
    from pts p
)""",
}

_OPS = ("<", "<=", ">", ">=")


def _band(bands: Bands) -> str:
    """checks.bands.judge in SQL (tests/test_demo_week.py holds every seeded row to it);
    a value judged from too little of its window is UNKNOWN."""
    if bands.red.op not in _OPS or bands.green.op not in _OPS:  # a Literal already; never text into SQL
        raise ValueError(f"not a band: {bands}")
    return (f"case when value is null or not enough then 'unknown'"
            f" when value {bands.red.op} %(red)s::float8 then 'red'"
            f" when value {bands.green.op} %(green)s::float8 then 'green' else 'yellow' end")


# checks.coverage over the judged rows: the covered share of the window, and whether it
# is enough (else UNKNOWN), said in the detail as the leader says it.
_COVERED = """, covering as (
    select *, least(covered, %(expected)s) as k,
           least(covered, %(expected)s)::float8 / %(expected)s * %(window_s)s as covered_s
    from judged
), told as (
    select *, covered_s / %(window_s)s >= %(min_fraction)s and samples >= %(min_samples)s as enough,
           (%(cover_texts)s::text[])[(k + 1)::int] || ' of ' || %(window_of)s || ' (' || samples || ' samples)'
               as described
    from covering
)
select t, value, %(window_s)s::float8 as window_s, covered_s, samples::integer,
       case when value is not null and not enough then 'too little data: ' || described
            when value is not null and k < %(expected)s then said || '; covers ' || described
            else said end as detail, enough
from told"""

_UNCOVERED = """
select t, value, null::float8 as window_s, null::float8 as covered_s, null::integer as samples, said as detail,
       true as enough
from judged"""


def _statement(gate: SeededGate) -> str:
    if gate.kind in _SQL:
        body, tail = _SQL[gate.kind], _UNCOVERED
    elif gate.kind == "checks_passing":
        body, tail = _CHECKS_PASSING, _UNCOVERED
    elif gate.kind == "p95_latency":
        body, tail = (_P95_RAW if gate.window <= SHORT_WINDOW else _P95_HIST), _COVERED
    else:
        body, tail = {"error_rate": _ERROR_RATE, "uptime": _UPTIME}[gate.kind], _COVERED
    return (
        "insert into gonogo.gate_evaluations (at, gate, value, band, gate_window, unit, window_s, covered_s, samples,"
        " detail)\n"
        f"select t, %(gate)s, value, {_band(gate.bands)}, %(window_text)s, %(unit)s, window_s, covered_s, samples,"
        f" detail from (\nwith {_POINTS},{body}{tail}\n) v"
    )


def newest_probe_at(start: datetime, now: datetime) -> datetime:
    """When the week's last seeded probe is (write_week: one a minute from `start`, up to
    a minute before `now`)."""
    return start + (now - PROBE_EVERY - start) // PROBE_EVERY * PROBE_EVERY


async def write_evaluations(conn, gates: Sequence[SeededGate], *, start: datetime, now: datetime,
                            every: timedelta, recent_every: timedelta, bin_values: Sequence[float]) -> None:
    """Each gate's evaluations over the seeded week, up to its last probe (a leader that
    evaluated as it landed): one every `every`, and in the last hour one every
    `recent_every` (as the leader records them: the 1 h chart and the sparklines read
    them). `bin_values`: what each latency bin reads as."""
    last = newest_probe_at(start, now)
    recent = last - timedelta(hours=1)
    for gate in gates:
        expected = max(1, len(gate.cover_texts) - 1)
        await conn.execute(_statement(gate), {
            "first": start + every, "recent": recent, "every": every, "last": last,
            "recent_every": recent_every, "start": start, "runs_every": TEST_RUN_EVERY,
            "grid_from": start, "grid_to": last, "gate": gate.name, "window_text": gate.window_text, "unit": gate.unit,
            "red": gate.bands.red.threshold, "green": gate.bands.green.threshold, "targets": list(gate.targets),
            "window": gate.window, "window_s": gate.window.total_seconds(), "bucket": gate.bucket,
            "hourly": gate.window > LONG_WINDOW, "expected": expected, "cover_texts": list(gate.cover_texts),
            "window_of": gate.cover_texts[-1] if gate.cover_texts else "", "min_fraction": gate.min_fraction,
            "min_samples": gate.min_samples, "bin_values": list(bin_values),
        })


async def remember(conn, key: str, value: str) -> None:
    await conn.execute(
        "insert into demo.meta (key, value) values (%s, %s) on conflict (key) do update set value = excluded.value",
        (key, value),
    )
