"""Versioned migrations, applied in order at start under an advisory lock, each in
its own transaction. Append new versions; never edit an applied one."""

from checks.latency_histogram import SQL_BIN

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
create table gonogo.probe_results (
    id          bigint generated always as identity primary key,
    target      text not null,
    at          timestamptz not null,
    ok          boolean not null,
    status      integer,
    latency_ms  double precision,
    reason      text not null default ''
);
-- the 5-minute gates and "latest probe per target" read by target and time
create index probe_results_target_at on gonogo.probe_results (target, at desc);
-- retention deletes by time
create index probe_results_at on gonogo.probe_results (at);

-- Long windows come from rollups, never from raw rows.
create table gonogo.probe_minute (
    target text not null, bucket timestamptz not null,
    total integer not null, ok integer not null, http_5xx integer not null,
    primary key (target, bucket)
);
create table gonogo.probe_hour (
    target text not null, bucket timestamptz not null,
    total integer not null, ok integer not null, http_5xx integer not null,
    primary key (target, bucket)
);
create index probe_minute_bucket on gonogo.probe_minute (bucket);
create index probe_hour_bucket on gonogo.probe_hour (bucket);

-- Statement-level with a transition table: one grouped upsert per insert statement
-- (a row-level trigger is ~20x slower on bulk loads such as the demo's seeded week).
create function gonogo.probe_rollup() returns trigger language plpgsql as $$
begin
    insert into gonogo.probe_minute as m (target, bucket, total, ok, http_5xx)
    select target, date_trunc('minute', at), count(*), count(*) filter (where ok),
           count(*) filter (where status >= 500)
    from new_rows group by 1, 2
    on conflict (target, bucket) do update
       set total = m.total + excluded.total, ok = m.ok + excluded.ok,
           http_5xx = m.http_5xx + excluded.http_5xx;
    insert into gonogo.probe_hour as h (target, bucket, total, ok, http_5xx)
    select target, date_trunc('hour', at), count(*), count(*) filter (where ok),
           count(*) filter (where status >= 500)
    from new_rows group by 1, 2
    on conflict (target, bucket) do update
       set total = h.total + excluded.total, ok = h.ok + excluded.ok,
           http_5xx = h.http_5xx + excluded.http_5xx;
    return null;
end $$;
create trigger probe_rollup after insert on gonogo.probe_results
    referencing new table as new_rows for each statement execute function gonogo.probe_rollup();

-- Every evaluation the leader made: the trends on screen, breach detection, the report.
create table gonogo.gate_evaluations (
    at    timestamptz not null,
    gate  text not null,
    value double precision,
    band  text not null,
    primary key (gate, at)
);
create index gate_evaluations_at on gonogo.gate_evaluations (at);

create table gonogo.rollout_state (
    flag             text primary key,
    percentage       integer not null,
    state            text not null check (state in ('idle','soaking','held','rolled_back','complete')),
    version          bigint not null,
    stage_started_at timestamptz,
    soak_elapsed_s   double precision not null default 0,   -- soak done before the last resume
    soak_resumed_at  timestamptz,                           -- null while held
    updated_at       timestamptz not null default now(),
    updated_by       text not null default ''
);

create table gonogo.rollout_events (
    id          bigint generated always as identity primary key,
    at          timestamptz not null default now(),
    flag        text not null,
    operator    text not null,
    action      text not null,
    from_pct    integer not null,
    to_pct      integer not null,
    reason      text not null,
    verdict     text not null,
    gates       jsonb not null default '{}',
    automatic   boolean not null default false,
    override    boolean not null default false,
    prev_hash   text not null,
    hash        text not null
);
create index rollout_events_flag on gonogo.rollout_events (flag, id);

create table gonogo.alerts (
    id          bigint generated always as identity primary key,
    fingerprint text not null unique,
    source      text not null,
    severity    text not null,
    name        text not null,
    summary     text not null default '',
    first_at    timestamptz not null default now(),
    last_at     timestamptz not null default now(),
    resolved_at timestamptz,
    acked_at    timestamptz,
    acked_by    text
);
create index alerts_last_at on gonogo.alerts (last_at desc);
""",
    ),
    (
        2,
        """
-- Rollout control: whether the change reached the system, and the default actuator's table.
alter table gonogo.rollout_state
    add column actuation text not null default 'ok' check (actuation in ('ok', 'pending', 'failed')),
    add column actuation_error text not null default '',
    add column last_action text not null default '';
create table gonogo.feature_flags (
    flag               text primary key,
    enabled            boolean not null,
    rollout_percentage integer not null check (rollout_percentage between 0 and 100),
    updated_at         timestamptz not null default now()
);
""",
    ),
    (
        3,
        """
-- The audit trail is append-only: editing or deleting needs a superuser to switch
-- this off first, and the chain (and the head kept beside the state) still tells.
create function gonogo.audit_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'gonogo.rollout_events is append-only (% refused)', tg_op;
end $$;
create trigger rollout_events_append_only before update or delete on gonogo.rollout_events
    for each row execute function gonogo.audit_append_only();
create trigger rollout_events_no_truncate before truncate on gonogo.rollout_events
    for each statement execute function gonogo.audit_append_only();
-- The hash of the newest event, written in the same transaction: deleting the newest
-- rows (which leaves an intact but shorter chain) is caught by comparing the two.
alter table gonogo.rollout_state add column audit_head text;
""",
    ),
    (
        4,
        """
-- Every console reads the open alerts every second, and the rules resolve by source:
-- both served by the open alerts alone, however long the history grows.
create index alerts_open on gonogo.alerts (source, last_at desc) where resolved_at is null;
""",
    ),
    (
        5,
        """
-- Configured SQL runs as a read-only role with no privilege on schema gonogo. Its one
-- window on the console's tables: the alert feed's open/acked state (what a "critical
-- alerts firing" gate counts), without summaries or who acknowledged. The view runs
-- with its owner's rights, so granting SELECT on it grants nothing else.
create schema gonogo_shared;
create view gonogo_shared.alerts as
    select source, severity, name, first_at, last_at, acked_at, resolved_at from gonogo.alerts;
""",
    ),
    (
        6,
        """
-- A signed audit trail (checks/audit.py; the key never lives in the database).
-- sig: HMAC-SHA256 over the previous event's sig (or hash) and this event; null for
-- the events written before signing, which verify reports as unsigned. key_id: which
-- key signed it (a hint for a console given the wrong key; not itself trusted).
alter table gonogo.rollout_events add column sig text, add column key_id text;
-- The signed head, written in the same transaction as every change: audit_head is the
-- newest event's sig (or hash), audit_count the flag's number of events, audit_sig an
-- HMAC over (flag, version, percentage, state, soak clock, audit_head, audit_count).
alter table gonogo.rollout_state add column audit_count bigint, add column audit_sig text;
""",
    ),
    (
        7,
        """
-- A probe result is a target probed at an instant: (target, at) is its natural key.
-- A leader writes back what it probed through a database outage, and retries a batch
-- whose commit it never heard about: `insert ... on conflict (target, at) do nothing`
-- writes nothing twice, and the rollup trigger's transition table holds only the
-- rows inserted, so the rollups count nothing twice either.
-- Duplicates written before this (none in a healthy history) are removed first, and
-- taken out of the rollups that counted them.
with gone as (
    delete from gonogo.probe_results a using gonogo.probe_results b
    where a.target = b.target and a.at = b.at and a.id > b.id
    returning a.target, a.at, a.ok, a.status
), minute as (
    update gonogo.probe_minute m set total = m.total - g.n, ok = m.ok - g.n_ok, http_5xx = m.http_5xx - g.n_5xx
    from (select target, date_trunc('minute', at) as bucket, count(*) as n, count(*) filter (where ok) as n_ok,
                 count(*) filter (where status >= 500) as n_5xx from gone group by 1, 2) g
    where m.target = g.target and m.bucket = g.bucket
)
update gonogo.probe_hour h set total = h.total - g.n, ok = h.ok - g.n_ok, http_5xx = h.http_5xx - g.n_5xx
from (select target, date_trunc('hour', at) as bucket, count(*) as n, count(*) filter (where ok) as n_ok,
             count(*) filter (where status >= 500) as n_5xx from gone group by 1, 2) g
where h.target = g.target and h.bucket = g.bucket;
-- The unique index replaces the (target, at desc) index the gates read by, same
-- columns, same order, same name: every plan that used it still does.
create unique index probe_results_natural_key on gonogo.probe_results (target, at desc);
drop index gonogo.probe_results_target_at;
alter index gonogo.probe_results_natural_key rename to probe_results_target_at;
""",
    ),
    (
        8,
        """
-- Every gate reads the smallest data that answers it (checks/probe_windows.py):
-- * latency histograms beside the rollups, so a p95 over days reads a few thousand
--   rows, not millions: per target, bucket and log-spaced latency bin, how many
--   probes answered (checks/latency_histogram.py; the bin formula is the same);
-- * per hour, a mask of the minutes that held a probe (bit m: minute m), so a 24 h
--   gate's coverage in minutes comes from 24 hour rows rather than 1,440 minute rows;
-- * an epoch that moves when probes land in a bucket a reader may have cached (a
--   buffer written back after an outage): the reader's cue to read again.
-- Buckets are counted from the Unix epoch (date_bin), whatever the session's time
-- zone: date_trunc('hour') follows it, and puts hours at :30 in India.
create table gonogo.probe_minute_latency (
    target text not null, bucket timestamptz not null, bin smallint not null, n integer not null,
    primary key (target, bucket, bin)
);
create table gonogo.probe_hour_latency (
    target text not null, bucket timestamptz not null, bin smallint not null, n integer not null,
    primary key (target, bucket, bin)
);
create index probe_minute_latency_bucket on gonogo.probe_minute_latency (bucket);
create index probe_hour_latency_bucket on gonogo.probe_hour_latency (bucket);
alter table gonogo.probe_hour add column minutes bigint not null default 0;
create table gonogo.rollup_epoch (
    one boolean primary key default true check (one), epoch bigint not null default 0
);
insert into gonogo.rollup_epoch default values;

create or replace function gonogo.probe_rollup() returns trigger language plpgsql as $$
begin
    insert into gonogo.probe_minute as m (target, bucket, total, ok, http_5xx)
    select target, date_bin('1 minute', at, timestamptz 'epoch'), count(*), count(*) filter (where ok),
           count(*) filter (where status >= 500)
    from new_rows group by 1, 2
    on conflict (target, bucket) do update
       set total = m.total + excluded.total, ok = m.ok + excluded.ok,
           http_5xx = m.http_5xx + excluded.http_5xx;
    insert into gonogo.probe_hour as h (target, bucket, total, ok, http_5xx, minutes)
    select target, date_bin('1 hour', at, timestamptz 'epoch'), count(*), count(*) filter (where ok),
           count(*) filter (where status >= 500),
           bit_or(1::bigint << (floor(extract(epoch from at) / 60)::bigint % 60)::int)
    from new_rows group by 1, 2
    on conflict (target, bucket) do update
       set total = h.total + excluded.total, ok = h.ok + excluded.ok,
           http_5xx = h.http_5xx + excluded.http_5xx, minutes = h.minutes | excluded.minutes;
    insert into gonogo.probe_minute_latency as l (target, bucket, bin, n)
    select target, date_bin('1 minute', at, timestamptz 'epoch'), @BIN@, count(*)
    from new_rows where latency_ms is not null group by 1, 2, 3
    on conflict (target, bucket, bin) do update set n = l.n + excluded.n;
    insert into gonogo.probe_hour_latency as l (target, bucket, bin, n)
    select target, date_bin('1 hour', at, timestamptz 'epoch'), @BIN@, count(*)
    from new_rows where latency_ms is not null group by 1, 2, 3
    on conflict (target, bucket, bin) do update set n = l.n + excluded.n;
    -- A minute of margin under the readers' two (checks.probe_windows.SETTLE), for
    -- a database clock a little behind the console's.
    if exists (select 1 from new_rows where at < now() - interval '1 minute') then
        update gonogo.rollup_epoch set epoch = epoch + 1;
    end if;
    return null;
end $$;

-- What is already there: histograms from the raw rows kept, masks from the minute rollup.
insert into gonogo.probe_minute_latency (target, bucket, bin, n)
select target, date_bin('1 minute', at, timestamptz 'epoch'), @BIN@, count(*)
from gonogo.probe_results where latency_ms is not null group by 1, 2, 3;
insert into gonogo.probe_hour_latency (target, bucket, bin, n)
select target, date_bin('1 hour', at, timestamptz 'epoch'), @BIN@, count(*)
from gonogo.probe_results where latency_ms is not null group by 1, 2, 3;
update gonogo.probe_hour h set minutes = m.mask
from (select target, date_bin('1 hour', bucket, timestamptz 'epoch') as hour,
             bit_or(1::bigint << (floor(extract(epoch from bucket) / 60)::bigint % 60)::int) as mask
      from gonogo.probe_minute group by 1, 2) m
where h.target = m.target and h.bucket = m.hour;
""".replace("@BIN@", SQL_BIN),
    ),
    (
        9,
        """
-- Alertmanager's labels, for the alert's detail: bounded when parsed (checks.alertmanager:
-- at most 50, names and values cut), with how many more there were.
alter table gonogo.alerts add column labels jsonb not null default '{}',
                          add column labels_left_out integer not null default 0;
-- Configured SQL may tell a rule's alert that says again what a gate says ("error_rate
-- red") from the others: a "critical alerts firing" gate that counted it would count a
-- red gate twice, and its own alert once it is red itself.
create or replace view gonogo_shared.alerts as
    select source, severity, name, first_at, last_at, acked_at, resolved_at,
           fingerprint like 'rule:gate:%' as restates_gate
    from gonogo.alerts;
""",
    ),
    (
        10,
        """
-- A go/no-go review is an audit event (action 'review', the percentage unchanged):
-- the decision, those present and each criterion's mark. Null for the rollout's
-- actions, which hash exactly as before (checks.audit.canonical leaves it out).
alter table gonogo.rollout_events add column review jsonb;
""",
    ),
    (
        11,
        """
-- Webhooks ([[notify]]): an outbox, so that each event is sent once per webhook
-- whichever leader finds it, across restarts. The key is derived from the row the
-- event comes from (an audit row's id, an alert episode, a state version): a new
-- leader enqueueing the same event again writes nothing (on conflict do nothing).
-- next_at: when the row is due (a leader claims a row by moving it past its send's
-- timeout); null once sent or given up, the row kept with its last error.
create table gonogo.notify_outbox (
    webhook     text not null,
    event_key   text not null,
    kind        text not null,
    event_at    timestamptz not null,
    body        jsonb not null,
    created_at  timestamptz not null default now(),
    attempts    integer not null default 0,
    next_at     timestamptz default now(),
    sent_at     timestamptz,
    last_status integer,
    last_error  text not null default '',
    primary key (webhook, event_key)
);
create index notify_outbox_due on gonogo.notify_outbox (next_at) where next_at is not null;
create index notify_outbox_created on gonogo.notify_outbox (created_at) where next_at is null;
-- When a leader first saw each webhook configured: only events from then on are its
-- own (a new webhook is not flooded with last week's history).
create table gonogo.notify_webhooks (
    webhook text primary key,
    since   timestamptz not null default now()
);
-- The leader looks for alert episodes that began or ended lately.
create index alerts_first_at on gonogo.alerts (first_at);
create index alerts_resolved_at on gonogo.alerts (resolved_at) where resolved_at is not null;
""",
    ),
    (
        12,
        """
-- Each recorded evaluation says what it was judged over, so a report for a past
-- moment (`gonogo report --at`) reads the window and the coverage from the database
-- alone. Null in rows written before this migration: the report says "not recorded".
alter table gonogo.gate_evaluations
    add column gate_window text,
    add column unit text,
    add column window_s double precision,
    add column covered_s double precision,
    add column samples integer,
    add column detail text;
""",
    ),
    (
        13,
        """
-- The alerts' history, for a report for a past moment (`gonogo report --at T`): one
-- row per episode, never overwritten by a later one. gonogo.alerts keeps one row per
-- fingerprint (the live feed), whose first_at, resolution and acknowledgement a new
-- episode overwrites. An episode begins when an alert is first raised, raised again
-- after it resolved, or turns critical from a lesser severity (the same rule as
-- gonogo.alerts' first_at); it ends when the alert resolves or the next episode
-- begins. Its severity, name and summary are those it began with: a later change in
-- place must not rewrite what a report for an earlier moment says. Written in the
-- same transaction as gonogo.alerts (console/store/db.py), after locking its row.
-- seen_at: when the database first heard of it. first_at may come from outside
-- (Alertmanager's startsAt) and lie before that: a report for T leaves out what was
-- not known at T, or its bytes would change after the fact.
create table gonogo.alert_episodes (
    id          bigint generated always as identity primary key,
    fingerprint text not null,
    source      text not null,
    severity    text not null,
    name        text not null,
    summary     text not null default '',
    first_at    timestamptz not null,
    seen_at     timestamptz not null default now(),
    resolved_at timestamptz,
    acked_at    timestamptz,
    acked_by    text
);
-- the current episode of a fingerprint; the report reads by time
create index alert_episodes_fingerprint on gonogo.alert_episodes (fingerprint, first_at);
create index alert_episodes_first_at on gonogo.alert_episodes (first_at);
-- retention deletes by resolution, as for gonogo.alerts
create index alert_episodes_resolved_at on gonogo.alert_episodes (resolved_at) where resolved_at is not null;
-- What is already there: each alert's last episode, as it stands now (seen when it
-- began, the best known: the earlier episodes were overwritten).
insert into gonogo.alert_episodes (fingerprint, source, severity, name, summary, first_at, seen_at, resolved_at,
                                   acked_at, acked_by)
select fingerprint, source, severity, name, summary, first_at, first_at, resolved_at, acked_at, acked_by
from gonogo.alerts order by id;
""",
    ),
]
