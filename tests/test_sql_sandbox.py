"""Configured SQL in its sandbox (console/store/sandbox.py), against the real embedded
PostgreSQL: each attack that worked when gates ran on the console's own pool and role
is refused, writes nothing, ends within its own timeout, and says why. Plus the pure
parts: the result validator (checks/sql_result.py) and the statement splitter
(checks/sql_text.py)."""
from __future__ import annotations

import asyncio
import math
import time
import tomllib
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.models import Verdict
from checks.sql_result import event_rows, finite_number, gate_value
from checks.sql_text import one_statement_problem, second_statement_at
from console.rollout import RolloutController
from console.store.db import LEADER_LOCK_BASE, hash_key
from console.store.sandbox import READER_ROLE, QueryRefused, QueryTimeout, grant_reader, reader_url

from .conftest import in_threads

REPO = Path(__file__).resolve().parents[1]
LEADER_KEY = "gonogo:f"
LEADER_LOCK = LEADER_LOCK_BASE + abs(hash_key(LEADER_KEY)) % 1_000_000
SLACK = 1.2  # what a refused call may take past its own timeout

# Functions of "the monitored system" that swallow cancellation: the worst a
# configured query can call, since the reader itself can create nothing.
MONITORED = """
create table public.t (x int);
insert into public.t select generate_series(1, 3);
create table public.events (at timestamptz, severity text, name text, summary text);
insert into public.events values (now() - interval '1 minute', 'P1', 'disk full', 'db-2 at 97 %'),
                                 (now() - interval '2 minutes', 'warning', 'slow queries', null);
create function public.swallow_one_cancel(s float8) returns int language plpgsql as $$
begin
    begin perform pg_sleep(s); exception when query_canceled then null; end;
    perform pg_sleep(s);
    return 1;
end $$;
create function public.ignore_cancels() returns int language plpgsql as $$
begin
    loop
        begin perform pg_sleep(60); exception when query_canceled then null; end;
    end loop;
end $$;
"""


@pytest.fixture
async def sandboxed(store, db_url):
    """A migrated store on a fresh database with a monitored table, the reader's grants
    run (as `gonogo` does on the embedded server after migrating)."""
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(MONITORED)
    await asyncio.to_thread(grant_reader, db_url)
    with psycopg.connect(db_url) as c:  # something in the console's tables to protect
        c.execute("insert into gonogo.alerts (fingerprint, source, severity, name) values ('am:1', 'alertmanager', 'critical', 'x')")
    return store


def counts(db_url) -> dict[str, int]:
    with psycopg.connect(db_url) as c:
        out = {
            t: c.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("public.t", "public.events", "gonogo.alerts", "gonogo.rollout_state", "gonogo.rollout_events")
        }
        out["relations"] = c.execute(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')"
        ).fetchone()[0]
    return out


async def refusal(store, query: str, timeout: float = 1.0, *, kind=QueryRefused) -> str:
    """Run `query` as a gate; it must be refused within its timeout (+ SLACK): the reason."""
    t0 = time.monotonic()
    with pytest.raises(kind) as info:
        await store.sandbox.value(query, timedelta(seconds=timeout))
    took = time.monotonic() - t0
    assert took < timeout + SLACK, f"{query!r} took {took:.2f}s"
    return str(info.value)


def reader_backends(db_url) -> int:
    with psycopg.connect(db_url) as c:
        return c.execute("select count(*) from pg_stat_activity where usename = %s and state = 'active'",
                         (READER_ROLE,)).fetchone()[0]


# --- the attacks -------------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "select 0; commit; delete from public.t",
    "select 1; delete from public.t",
    "SET LOCAL statement_timeout = 0; select pg_sleep(100)",
    "select 1; set statement_timeout = 0; select pg_sleep(100)",
    "select 1; select pg_advisory_lock(1)",
])
async def test_a_second_statement_is_refused_by_the_server_and_nothing_runs(sandboxed, db_url, query):
    before = counts(db_url)
    reason = await refusal(sandboxed, query)
    assert reason == "refused: the query holds more than one statement; configured SQL runs exactly one"
    assert counts(db_url) == before
    assert second_statement_at(query) is not None  # and the config loader refuses it first


async def test_lifting_its_own_statement_timeout_still_ends_on_time(sandboxed):
    reason = await refusal(sandboxed, "select set_config('statement_timeout', '0', false), pg_sleep(60)", 0.5,
                           kind=QueryTimeout)
    assert reason == "timed out after 500ms"
    reason = await refusal(sandboxed, "select set_config('lock_timeout', '0', false), pg_sleep(60)", 0.5,
                           kind=QueryTimeout)
    assert reason == "timed out after 500ms"


async def test_a_query_that_swallows_its_statement_timeout_is_cancelled_by_the_client(sandboxed, db_url):
    # The server's statement_timeout fires and is trapped; the client's deadline cancels.
    reason = await refusal(sandboxed, "select public.swallow_one_cancel(20)", 0.5, kind=QueryTimeout)
    assert reason == "timed out after 500ms"
    assert reader_backends(db_url) == 0


async def test_a_query_that_ignores_every_cancel_is_ended_and_its_advisory_lock_freed(sandboxed, db_url):
    # Trapping every cancel: the socket is closed and the backend terminated, so the
    # session lock it took on the leader key does not outlive the deadline.
    t0 = time.monotonic()
    with pytest.raises(QueryTimeout, match="timed out after 500ms"):
        await sandboxed.sandbox.value(f"select pg_advisory_lock({LEADER_LOCK}), public.ignore_cancels()",
                                      timedelta(milliseconds=500))
    assert time.monotonic() - t0 < 0.5 + 3.5  # slack, cancel wait, terminate wait
    assert reader_backends(db_url) == 0
    assert await sandboxed.hold_leadership(LEADER_KEY)


async def test_a_writing_cte_is_refused(sandboxed, db_url):
    before = counts(db_url)
    reason = await refusal(sandboxed, "with d as (delete from public.t returning 1) select count(*) from d")
    assert reason == "refused: configured SQL is read-only (cannot execute SELECT in a read-only transaction)"
    reason = await refusal(sandboxed, "select set_config('transaction_read_only', 'off', true)")
    assert "read-write mode must be set before any query" in reason
    assert counts(db_url) == before


@pytest.mark.parametrize("query", [
    "select 1 from gonogo.rollout_state for update",
    "lock table gonogo.rollout_state",
    "select count(*) from gonogo.alerts",
    "select count(*) from gonogo.rollout_events",
    "insert into gonogo.alerts (fingerprint, source, severity, name) values ('x', 'x', 'x', 'x') returning 1",
])
async def test_the_consoles_own_tables_are_out_of_reach(sandboxed, db_url, query):
    before = counts(db_url)
    reason = await refusal(sandboxed, query)
    assert reason == "refused: permission denied for schema gonogo (configured SQL runs as a read-only role)"
    assert counts(db_url) == before


async def test_monitored_tables_can_be_read_but_not_locked_or_written(sandboxed, db_url):
    before = counts(db_url)
    assert await sandboxed.sandbox.value("select count(*) from public.t", timedelta(seconds=1)) == 3.0
    assert "cannot execute SELECT FOR UPDATE in a read-only" in await refusal(sandboxed, "select 1 from public.t for update")
    assert "permission denied" in await refusal(sandboxed, "lock table public.t in exclusive mode")
    assert "read-only" in await refusal(sandboxed, "create table public.mine (x int)")
    assert "read-only" in await refusal(sandboxed, "create temp table mine (x int)")
    assert counts(db_url) == before


async def test_a_session_advisory_lock_on_the_leader_key_does_not_survive_the_query(sandboxed):
    assert await sandboxed.sandbox.value(f"select count(*) from (select pg_advisory_lock({LEADER_LOCK})) l",
                                         timedelta(seconds=1)) == 1.0
    assert await sandboxed.hold_leadership(LEADER_KEY)  # the query's lock is gone: another connection takes it


async def test_a_lock_taken_by_a_failing_query_is_freed_before_the_call_returns(sandboxed):
    # not a constant (that fails at plan time, before the lock): after it, at run time
    reason = await refusal(sandboxed, f"select 1 / (count(*) - 1)::int from (select pg_advisory_lock({LEADER_LOCK})) l")
    assert reason == "division by zero"
    assert await sandboxed.hold_leadership(LEADER_KEY)


async def test_the_consoles_backends_cannot_be_signalled(sandboxed, db_url):
    async with sandboxed.connection() as conn:
        pid = conn.info.backend_pid
        for fn in ("pg_terminate_backend", "pg_cancel_backend"):
            reason = await refusal(sandboxed, f"select {fn}({pid})::int")
            assert reason.startswith("refused: permission denied to ") and "SUPERUSER" not in reason.split(":")[0]
        assert (await (await conn.execute("select 1")).fetchone()) == (1,)  # still alive


async def test_a_notify_from_a_query_reaches_nobody(sandboxed, db_url):
    listener = await psycopg.AsyncConnection.connect(db_url, autocommit=True)
    async with listener:
        await listener.execute("listen gonogo_rollout")
        value = await sandboxed.sandbox.value(
            """select count(*) from (select pg_notify('gonogo_rollout', '{"flag": "f", "version": 99, "operator": "mallory"}')) n""",
            timedelta(seconds=1))
        assert value == 1.0
        got = []

        async def collect():
            async for note in listener.notifies(timeout=1.0):
                got.append(note)

        await collect()
        assert got == []  # the read-only transaction was rolled back: nothing was sent


async def test_what_a_gate_returns_is_checked(sandboxed):
    value = sandboxed.sandbox.value
    one = timedelta(seconds=1)
    assert await value("select 99.5::numeric", one) == 99.5
    assert await value("select null::float8", one) is None
    cases = {
        "select x from public.t": "the query returned 3 rows; a gate needs exactly one",
        "select x from public.t where x > 5": "the query returned no rows; a gate needs exactly one row with one number",
        "select generate_series(1, 1000)": "the query returned more than 100 rows; a gate needs exactly one",
        "select 1, 2": "the query returned 2 columns; a gate needs one number",
        "select true": "the query returned a boolean (true), not a number",
        "select '0'": "the query returned text '0', not a number (cast it in the query if it holds one)",
        "select '-Infinity'::float8": "the query returned -Infinity, not a finite number",
        "select 'Infinity'::numeric": "the query returned Infinity, not a finite number",
        "select 'NaN'::float8": "the query returned NaN, not a finite number",
        "select now()": "the query returned a datetime",
    }
    for query, reason in cases.items():
        assert (await refusal(sandboxed, query)).startswith(reason), query
    assert "returned no rows" in await refusal(sandboxed, "lock table public.t in access share mode")
    assert await value("select 1", one) == 1.0  # the pool is fine after all of that


async def test_events_rows_are_typed_and_bounded(sandboxed):
    rows = sandboxed.sandbox.rows
    one = timedelta(seconds=1)
    events = event_rows(await rows("select at, severity, name, summary from public.events order by at desc", one))
    assert [(e.severity, e.name, e.summary) for e in events] == [("P1", "disk full", "db-2 at 97 %"), ("warning", "slow queries", "")]
    assert events[0].at.tzinfo is not None
    with pytest.raises(QueryRefused, match="the query returned more than 200 rows; keep the newest"):
        await rows("select now(), 'P1', 'x' from generate_series(1, 201)", one)
    with pytest.raises(ValueError, match="row 1: at is a timestamp without time zone"):
        event_rows(await rows("select now()::timestamp, 'P1', 'x'", one))
    with pytest.raises(ValueError, match="row 1: severity is 1, not a non-empty text"):
        event_rows(await rows("select now(), 1, 'x'", one))


async def test_a_rollback_completes_while_the_worst_queries_run(sandboxed, db_url):
    controller = RolloutController(sandboxed, flag="f", steps=[0, 5, 10], soak_for=lambda pct: timedelta(0))
    assert (await controller.act("advance", operator="alice", reason="go", verdict=Verdict.GO)).outcome == "done"
    worst = [
        "select pg_sleep(30)",
        "select public.ignore_cancels()",
        f"select pg_advisory_lock({LEADER_LOCK}), pg_sleep(30)",
        "select count(*) from public.t, pg_sleep(30)",
        "select 1 from gonogo.rollout_state for update",
        "lock table gonogo.rollout_state",
        "select pg_sleep(30)",  # more than the sandbox pool holds: these wait for a connection
        "select pg_sleep(30)",
    ]
    tasks = [asyncio.create_task(sandboxed.sandbox.value(q, timedelta(seconds=30))) for q in worst]
    await asyncio.sleep(0.5)  # let them start
    t0 = time.monotonic()
    result = await controller.act("rollback", operator="bob", reason="abort", verdict=Verdict.ROLLBACK)
    took = time.monotonic() - t0
    assert result.outcome == "done" and result.to_pct == 0
    assert took < 2.0, f"rollback took {took:.2f}s"
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    with psycopg.connect(db_url) as c:
        assert c.execute("select percentage, state from gonogo.rollout_state where flag = 'f'").fetchone() == (0, "rolled_back")
    await wait_until(lambda: reader_backends(db_url) == 0, "the cancelled queries' backends to end")


async def wait_until(predicate, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


# --- the role --------------------------------------------------------------------------------


async def test_the_reader_role_is_least_privileged(sandboxed, db_url):
    with psycopg.connect(db_url) as c:
        attrs = c.execute("select rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolreplication,"
                          " rolbypassrls from pg_roles where rolname = %s", (READER_ROLE,)).fetchone()
        assert attrs == (True, False, False, False, False, False, False)

        def has(sql: str) -> bool:
            return c.execute(f"select {sql}", (READER_ROLE,)).fetchone()[0]

        assert not has("has_schema_privilege(%s, 'gonogo', 'usage')")
        assert not has("has_schema_privilege(%s, 'public', 'create')")
        assert not has("has_database_privilege(%s, current_database(), 'create')")
        assert not has("has_database_privilege(%s, current_database(), 'temporary')")
        assert has("has_table_privilege(%s, 'public.t', 'select')")
        assert not has("has_table_privilege(%s, 'public.t', 'insert, update, delete, truncate')")
        assert has("has_table_privilege(%s, 'gonogo_shared.alerts', 'select')")
        assert not has("has_table_privilege(%s, 'gonogo_shared.alerts', 'insert, update, delete')")
        # a table the monitored system adds later is readable at once (default privileges)
        c.execute("create table public.later (x int)")
        c.commit()
        assert has("has_table_privilege(%s, 'public.later', 'select')")


async def test_the_critical_alerts_window_shows_no_summaries(sandboxed):
    assert await sandboxed.sandbox.value(
        "select count(*) from gonogo_shared.alerts where severity = 'critical' and resolved_at is null",
        timedelta(seconds=1)) == 1.0
    assert 'column "summary" does not exist' in await refusal(sandboxed, "select count(summary) from gonogo_shared.alerts")


def test_grants_are_idempotent_and_safe_to_run_concurrently(db_url):
    _, errors = in_threads(lambda: grant_reader(db_url), 4)
    assert errors == []


def test_the_reader_url_swaps_the_user_and_drops_the_password():
    url = reader_url("postgresql://app:hunter2@db.internal:5433/prod?sslmode=require")
    assert "hunter2" not in url and "user=gonogo_reader" in url and "host=db.internal" in url
    assert "dbname=prod" in url and "sslmode=require" in url


async def test_an_unreachable_reader_is_the_gates_reason_not_a_database_outage(db_url):
    from console.store.db import Store

    store = Store(db_url, query_url=reader_url(db_url, "no_such_role"), connect_timeout=1)
    await store.open()
    try:
        reason = await refusal(store, "select 1", 1.0)
        assert reason.startswith("cannot connect as no_such_role: ") and "does not exist" in reason
    finally:
        await store.close()


async def test_the_demos_configured_sql_works_through_the_sandbox(store, db_url):
    from console.demo.seed import seed

    await seed(db_url, ["api", "auth"], "phase_4_deployment", [0, 5, 10, 25, 50, 75, 100])
    await asyncio.to_thread(grant_reader, db_url)  # as `gonogo demo` does after seeding
    config = tomllib.loads((REPO / "config.toml").read_text())
    queries = [g["query"] for g in config["gates"] if g["source"] == "sql"] + [config["alerts"]["cost_query"]]
    for q in queries:
        value = await store.sandbox.value(q, timedelta(seconds=5))
        assert value is not None and math.isfinite(value), q
    event_rows(await store.sandbox.rows(config["alerts"]["events_query"], timedelta(seconds=5)))  # well-typed


# --- pure: the result validator ------------------------------------------------------------------


@given(st.one_of(st.integers(-10**15, 10**15), st.floats(allow_nan=False, allow_infinity=False),
                 st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**20, max_value=10**20)))
def test_finite_numbers_are_accepted_as_floats(v):
    assert finite_number(v) == float(v)
    assert gate_value([(v,)]) == float(v)


@given(st.one_of(st.booleans(), st.text(), st.binary(), st.just(float("nan")), st.just(float("inf")),
                 st.just(float("-inf")), st.just(Decimal("NaN")), st.just(Decimal("-Infinity")),
                 st.just(10**400), st.just(Decimal("1e400")), st.datetimes(), st.lists(st.integers())))
def test_everything_else_is_refused_with_a_reason(v):
    with pytest.raises(ValueError) as info:
        finite_number(v)
    assert str(info.value).startswith("the query returned ")


def test_gate_shapes():
    assert gate_value([(None,)]) is None
    with pytest.raises(ValueError, match="returned 2 rows"):
        gate_value([(1,), (2,)])
    with pytest.raises(ValueError, match="more than 1 rows"):
        gate_value([(1,)], more=True)
    with pytest.raises(ValueError, match="no rows"):
        gate_value([])
    with pytest.raises(ValueError, match="0 columns"):
        gate_value([()])


def test_event_rows_name_the_bad_row_and_column():
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    good = event_rows([(at, "P1", "x", None), (at, "info", "y", "why")])
    assert [(e.severity, e.summary) for e in good] == [("P1", ""), ("info", "why")]
    for row, reason in [
        ((at, "P1"), "row 2 has 2 columns"),
        (("yesterday", "P1", "x"), "row 2: at is 'yesterday', not a timestamp"),
        ((at.replace(tzinfo=None), "P1", "x"), "row 2: at is a timestamp without time zone"),
        ((at, "  ", "x"), "row 2: severity is '  ', not a non-empty text"),
        ((at, "P1", None), "row 2: name is None"),
        ((at, "P1", "x", 5), "row 2: summary is 5, not a text or NULL"),
    ]:
        with pytest.raises(ValueError, match=reason):
            event_rows([(at, "P1", "ok"), row])
    assert len(event_rows([(at, "P1", "x", "s" * 10_000)])[0].summary) == 2000


# --- pure: the statement splitter -------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_fragments = st.one_of(
    st.sampled_from(["select", "1", "x", "from", "t", ",", "(", ")", "+", "e", "E", "a$b", "$1", "::int", "U&"]),
    _text.map(lambda s: "'" + s.replace("'", "''") + "'"),
    _text.map(lambda s: "E'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"),
    _text.map(lambda s: '"' + s.replace('"', '""') + '"'),
    st.tuples(st.sampled_from(["", "a", "tag_1", "é"]), _text).filter(lambda p: f"${p[0]}$" not in p[1] and not p[1].endswith("$"))
    .map(lambda p: f"${p[0]}${p[1]}${p[0]}$"),
    _text.filter(lambda s: "\n" not in s and "\r" not in s).map(lambda s: "--" + s + "\n"),
    _text.filter(lambda s: "/*" not in s and "*/" not in s and not s.endswith("/") and not s.startswith("*"))
    .map(lambda s: "/*" + s + "*/"),
)
_one_statement = st.lists(_fragments, min_size=1, max_size=12).map(" ".join)
_tail = st.lists(st.sampled_from([" ", "\n", ";", "-- c;\n", "/* ; */"]), max_size=4).map("".join)


@settings(max_examples=300)
@given(_one_statement, _tail)
def test_semicolons_inside_literals_and_comments_are_not_a_second_statement(sql, tail):
    assert second_statement_at(sql) is None, sql
    assert second_statement_at(sql + ";" + tail) is None, sql + ";" + tail
    assert one_statement_problem(sql + tail) is None


@settings(max_examples=300)
@given(_one_statement, _tail)
def test_anything_after_a_top_level_semicolon_is_found(sql, tail):
    query = sql + ";" + tail + "delete from t"
    assert second_statement_at(query) == len(query) - len("delete from t"), query
    assert "'delete from t'" in one_statement_problem(query)


SPLITTER_CASES = [
    "select 1", "select 1;", "select 1; -- x", "select 1; /* a; b */", "select ';'", "select 1; select 2",
    "select $$;$$", "select $a$ ; $a$", "select 'a'';'", "select E'\\';'", "select E'\\\\'; select 2",
    'select 1 as ";"', "select 1 -- ; select 2\n", "select /* /* ; */ ; */ 1", "select 1;;",
    "select 1 --c\r; select 2", "select 1 as a$$; select 2", "select $x$ $y$; $x$", "select 1;\n\nselect 2",
]


async def test_the_splitter_agrees_with_the_server(sandboxed):
    for query in SPLITTER_CASES:
        try:
            await sandboxed.sandbox.rows(query, timedelta(seconds=1))
            server_says_two = False
        except QueryRefused as e:
            server_says_two = "more than one statement" in str(e)
        assert (second_statement_at(query) is not None) == server_says_two, query


async def test_grants_repair_a_reader_given_too_much(sandboxed, db_url):
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(f"alter role {READER_ROLE} createdb inherit")
        c.execute(f"grant pg_signal_backend, pg_read_all_data to {READER_ROLE}")
        c.execute(f"grant usage on schema gonogo to {READER_ROLE}")
        c.execute(f"grant select on gonogo.alerts to {READER_ROLE}")
    await asyncio.to_thread(grant_reader, db_url)
    with psycopg.connect(db_url) as c:
        assert c.execute("select rolcreatedb, rolinherit from pg_roles where rolname = %s", (READER_ROLE,)).fetchone() == (False, False)
        assert c.execute("select count(*) from pg_auth_members where member = %s::regrole", (READER_ROLE,)).fetchone()[0] == 0
    assert "permission denied for schema gonogo" in await refusal(sandboxed, "select count(*) from gonogo.alerts")


async def test_on_screen_a_bad_answer_is_unknown_with_its_reason(db_url, health_server):
    from checks.models import Band

    from .conftest import make_config, wait_for
    from .test_engine import gate, running

    base, _ = health_server
    bands = {"green": "< 1", "red": "> 5"}
    gates = [
        {"name": "null_sql", "source": "sql", "query": "select null::int", **bands},
        {"name": "minus_inf", "source": "sql", "query": "select '-Infinity'::float8", **bands},
        {"name": "two_rows", "source": "sql", "query": "select generate_series(1, 2)", **bands},
        {"name": "a_bool", "source": "sql", "query": "select true", **bands},
        {"name": "good_sql", "source": "sql", "query": "select 0", **bands},
    ]
    config = make_config(db_url, base, gates=gates, auto_rollback={"gates": []})
    async with running(config) as engine:
        await wait_for(None, lambda: engine.snapshot and gate(engine.snapshot, "good_sql").band is Band.GREEN
                       and all(gate(engine.snapshot, g["name"]).detail not in ("", "waiting for first answer")
                               for g in gates[:4]), what="sql gates evaluated")
        snap = engine.snapshot
    expected = {
        "null_sql": "the query returned NULL",
        "minus_inf": "the query returned -Infinity, not a finite number",
        "two_rows": "the query returned 2 rows; a gate needs exactly one",
        "a_bool": "the query returned a boolean (true), not a number",
    }
    for name, reason in expected.items():
        g = gate(snap, name)
        assert (g.band, g.value, g.detail) == (Band.UNKNOWN, None, reason), name
    assert snap.verdict is Verdict.HOLD


async def test_a_refused_events_query_is_reported_and_the_other_rules_still_run(db_url, health_server):
    from .conftest import make_config, wait_for
    from .test_engine import running

    base, _ = health_server
    config = make_config(db_url, base, alerts={"cost_query": "select 12.5", "cost_budget": 10.0,
                                               "events_query": "select now()::timestamp, 'P1', 'disk full'",
                                               "interval": "1s"})

    def rules(engine):
        return next((s for s in engine.snapshot.sources if s.name == "alert rules"), None) if engine.snapshot else None

    async with running(config) as engine:
        await wait_for(None, lambda: rules(engine) is not None and any(
            a.fingerprint == "rule:cost" for a in engine.snapshot.alerts), what="the cost alert and the refusal")
        assert not rules(engine).ok
        assert rules(engine).reason.startswith("events_query: events query row 1: at is a timestamp without time zone")


async def test_an_unreadable_url_refuses_configured_sql_without_showing_it():
    from console.store.db import Store

    assert reader_url("postgresql://u:hunter2@h/x?bogus=1") is None
    store = Store("postgresql://u:hunter2@h/x?bogus=1")
    await store.open()
    try:
        reason = await refusal(store, "select 1")
        assert reason.startswith("configured SQL is off") and "hunter2" not in reason
    finally:
        await store.close()
