"""A believable 7-day burn-in for the demo, generated inside PostgreSQL (one
statement per table: the seeded week is written by the database, not by Python)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg

from checks.audit import head_signature, link, seal

from ..audit_key import load_key

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

FRESH_FOR = timedelta(minutes=30)  # a demo restarted within this keeps its history


def burn_in_start(now: datetime) -> datetime:
    """Six days and eighteen hours ago, on the hour: the window ends in a few hours."""
    return (now - timedelta(days=6, hours=18)).replace(minute=0, second=0, microsecond=0)


def seed(url: str, targets: list[str], flag: str, steps: list[int], *, now: datetime | None = None,
         reset: bool = False) -> datetime:
    """Seed (or keep) the demo history; returns the burn-in start to show."""
    now = now or datetime.now(timezone.utc)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(DEMO_SCHEMA)
        row = conn.execute("select value from demo.meta where key = 'burn_in_start'").fetchone()
        last = conn.execute("select max(at) from gonogo.probe_results").fetchone()[0]
        if row and last and now - last < FRESH_FOR and not reset:
            return datetime.fromisoformat(row[0])
        start = burn_in_start(now)
        key = load_key(create=True)  # before anything is emptied: a key that cannot be used changes nothing
        with conn.transaction():
            # The audit trail is append-only; only the demo, starting its story over,
            # lifts that for the one statement that empties its own trail.
            conn.execute("alter table gonogo.rollout_events disable trigger rollout_events_no_truncate")
            conn.execute(
                "truncate gonogo.probe_results, gonogo.probe_minute, gonogo.probe_hour, gonogo.gate_evaluations,"
                " gonogo.alerts, gonogo.rollout_events, gonogo.feature_flags,"
                " demo.test_runs, demo.incidents, demo.costs, demo.events"
            )
            conn.execute("alter table gonogo.rollout_events enable trigger rollout_events_no_truncate")
            conn.execute("select setseed(0.42)")
            # One probe a minute per target for the week; the live probes take over from now.
            # Day one has a short blip (not clean), the rest is clean: 6 clean days of 7.
            conn.execute(
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
                (targets, start, now - timedelta(minutes=1), start + timedelta(hours=9), start + timedelta(hours=9), targets[-1]),
            )
            conn.execute(
                """
                insert into demo.test_runs (at, suite, passed)
                select at, s, random() > 0.006
                from generate_series(%s::timestamptz, %s::timestamptz, interval '20 minutes') at,
                     unnest(array['unit', 'integration', 'e2e', 'contract']) s
                """,
                (start, now),
            )
            conn.execute(
                "insert into demo.incidents (severity, title, opened_at, closed_at) values"
                " ('P2', 'search reindex slowed queries', %s, %s),"
                " ('P3', 'billing webhook retries', %s, %s)",
                (now - timedelta(days=5, hours=3), now - timedelta(days=5, hours=2), now - timedelta(days=2), now - timedelta(days=2) + timedelta(minutes=40)),
            )
            conn.execute(
                """
                insert into demo.costs (day, dollars)
                select d::date, round((6.2 + 2.4 * random())::numeric, 2)
                from generate_series(%s::date, %s::date, interval '1 day') d
                """,
                (start.date(), now.date()),
            )
            conn.execute(
                "insert into demo.events (at, severity, name, summary) values"
                " (%s, 'info', 'canary at 10 %%', 'phase_4_deployment advanced 5 %% → 10 %%'),"
                " (%s, 'warning', 'auto-heal: worker restarted', 'memory above 90 %% for 10 minutes')",
                (now - timedelta(hours=5), now - timedelta(hours=2, minutes=12)),
            )
            # An hour of trend so the sparklines mean something on the first frame.
            conn.execute(
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
            # The rollout so far, written as the controller writes it: one signed event per
            # advance and a signed head (the audit key is created on first use, as by any
            # process that writes events), so `gonogo audit verify` holds on the demo too.
            # The trail starts over, so the version does as well: 1 + one per event.
            n = min(2, len(steps) - 1)
            pct, started = steps[n], now - timedelta(hours=5)
            prev = None
            for i in range(1, n + 1):
                event = dict(at=started - timedelta(hours=12 * (n - i)), flag=flag, operator="demo", action="advance",
                             from_pct=steps[i - 1], to_pct=steps[i], reason=f"burn-in clean at {steps[i - 1]} %",
                             verdict="GO", gates={}, automatic=False, override=False)
                prev = seal(key.secret, prev, event)
                conn.execute(
                    "insert into gonogo.rollout_events (at, flag, operator, action, from_pct, to_pct, reason, verdict,"
                    " gates, automatic, override, prev_hash, hash, sig, key_id)"
                    " values (%s, %s, %s, %s, %s, %s, %s, %s, '{}'::jsonb, %s, %s, %s, %s, %s, %s)",
                    (event["at"], flag, "demo", "advance", event["from_pct"], event["to_pct"], event["reason"], "GO",
                     False, False, prev["prev_hash"], prev["hash"], prev["sig"], prev["key_id"]),
                )
            state = "complete" if n == len(steps) - 1 else "soaking"
            head = dict(flag=flag, version=1 + n, percentage=pct, state=state, stage_started_at=started,
                        soak_elapsed_s=0.0, soak_resumed_at=started if state == "soaking" else None,
                        last=link(prev), count=n)
            conn.execute(
                "insert into gonogo.rollout_state (flag, percentage, state, version, stage_started_at,"
                " soak_elapsed_s, soak_resumed_at, updated_by, audit_head, audit_count, audit_sig)"
                " values (%s, %s, %s, %s, %s, %s, %s, 'demo', %s, %s, %s)"
                " on conflict (flag) do update set percentage = excluded.percentage, state = excluded.state,"
                " version = excluded.version, stage_started_at = excluded.stage_started_at,"
                " soak_elapsed_s = excluded.soak_elapsed_s, soak_resumed_at = excluded.soak_resumed_at,"
                " updated_by = 'demo', audit_head = excluded.audit_head, audit_count = excluded.audit_count,"
                " audit_sig = excluded.audit_sig, actuation = 'ok', actuation_error = ''",
                (flag, pct, state, head["version"], started, 0.0, head["soak_resumed_at"], head["last"], n,
                 head_signature(key.secret, head)),
            )
            conn.execute(
                "insert into demo.meta (key, value) values ('burn_in_start', %s)"
                " on conflict (key) do update set value = excluded.value",
                (start.isoformat(),),
            )
        return start
