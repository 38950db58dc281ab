"""Configured SQL runs here, and nowhere else: SQL gates' `query`, `[alerts]
cost_query` and `events_query` come from a config file, so they are treated as
untrusted. By construction, whatever the text says:

- it runs as a least-privileged login of its own (`gonogo_reader` on the embedded
  server; `[database] query_url` otherwise), on a pool of its own: it can neither
  touch the console's tables (no privilege on schema `gonogo`), nor lock them, nor
  signal the console's backends, nor take a connection a rollout action needs;
- it is exactly one statement: it goes through the extended query protocol, which
  refuses a second command (`select 0; commit; delete from t`);
- it runs in a READ ONLY transaction that is always rolled back (so a pg_notify() or
  a LISTEN never reaches anyone, and a set_config() is undone), with a server
  statement_timeout and a short lock_timeout, *and* a client-side deadline: on
  expiry the query is cancelled on the server and its connection closed, so a query
  that lifts its own statement_timeout still ends on time;
- its connection keeps nothing: after a clean run `DISCARD ALL` drops session
  advisory locks, settings, prepared statements and LISTENs; after anything else
  (an error, a timeout, too many rows) the connection is closed.

Errors come out as QueryRefused (a ValueError) whose message is the reason shown on
screen; the reader's connection failing is such a reason too, never "the database
is down" (the console's own pools say that).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from checks.sql_result import gate_value

from ..durations import format_duration
from ..secrets import one_line

log = logging.getLogger("gonogo.sandbox")

READER_ROLE = "gonogo_reader"
GATE_ROWS = 100  # rows read at most from a gate's query, to say how many it gave
EVENT_ROWS = 200
EVIDENCE_ROWS = 50  # a review criterion's evidence rows shown at most (the rest is said to exist)
DEADLINE_SLACK = 0.5  # s past the server's statement_timeout before the client cancels
LOCK_WAIT = timedelta(seconds=1)  # longest wait for a lock (never for a long one)
CANCEL_WAIT = 1.0  # s given to a cancelled query to end before its socket is closed
GRANT_LOCK = 0x60_6061  # serialises concurrent grant_reader() runs (GRANTs race otherwise)


class QueryRefused(ValueError):
    """Configured SQL was refused, failed or gave a bad answer; the message says why."""


class QueryTimeout(QueryRefused):
    pass


def reader_url(url: str, role: str = READER_ROLE) -> str | None:
    """The console's URL with the user swapped for `role` and the password dropped
    (the main role's password is never offered for another role). None when the URL
    cannot be read: configured SQL is then refused, never run as the console's role."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:  # its message quotes the URL, password and all: not kept
        return None
    params.pop("password", None)
    params["user"] = role
    return make_conninfo(**params)


class QuerySandbox:
    def __init__(self, url: str | None, *, connect_timeout: float = 3.0, max_size: int = 4):
        self.url = url
        self._connect_error: list[BaseException | None] = [None]
        self._pool: AsyncConnectionPool | None = None
        self.role = ""
        try:
            self.role = (conninfo_to_dict(url).get("user") or "(default user)") if url else ""
        except psycopg.Error:  # its message quotes the URL: not kept
            url = None
        if not url:
            return  # every query is refused (_getconn says why)
        self._pool = AsyncConnectionPool(
            url,
            min_size=0,  # nothing is opened until a query needs it (the role may not exist yet)
            max_size=max_size,
            open=False,
            timeout=connect_timeout,
            connection_class=_recording_connection(self._connect_error),
            configure=_configure,
            check=AsyncConnectionPool.check_connection,  # after a server restart: a fresh one, not an error
            reconnect_timeout=10.0,  # as the console's pools: back within seconds of the server, not minutes
            kwargs={
                "autocommit": True,  # transactions are opened (READ ONLY) and rolled back explicitly
                "prepare_threshold": None,  # DISCARD ALL would drop what psycopg prepared
                "connect_timeout": max(1, int(connect_timeout)),
                "options": "-c default_transaction_read_only=on -c application_name=gonogo-query",
            },
        )

    async def open(self) -> None:
        if self._pool is not None:
            await self._pool.open(wait=False)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def value(self, query: str, timeout: timedelta) -> float | None:
        """A gate's single finite number (None for NULL); QueryRefused otherwise."""
        rows, more = await self._fetch(query, timeout, GATE_ROWS)
        try:
            return gate_value(rows, more=more)
        except ValueError as e:
            raise QueryRefused(str(e)) from None

    async def rows(self, query: str, timeout: timedelta, max_rows: int = EVENT_ROWS) -> list[tuple]:
        """At most `max_rows` rows; more is refused (a silent cut would drop any of them)."""
        rows, more = await self._fetch(query, timeout, max_rows)
        if more:
            raise QueryRefused(f"the query returned more than {max_rows} rows; keep the newest (order by ... desc limit {max_rows})")
        return rows

    async def table(self, query: str, timeout: timedelta,
                    max_rows: int = EVIDENCE_ROWS) -> tuple[tuple[str, ...], list[tuple], bool]:
        """(column names, the first `max_rows` rows, whether there were more): a gate's
        evidence query, read for a person (cut, and said so), never judged."""
        columns: list[str] = []
        rows, more = await self._fetch(query, timeout, max_rows, columns)
        return tuple(columns), rows, more

    async def _fetch(self, query: str, timeout: timedelta, limit: int,
                     columns: list[str] | None = None) -> tuple[list[tuple], bool]:
        """Up to `limit` rows, and whether the query had more. Returns or raises within
        `timeout` plus DEADLINE_SLACK (plus CANCEL_WAIT for a query that ignores its
        cancellation)."""
        loop = asyncio.get_running_loop()
        seconds = timeout.total_seconds()
        deadline = loop.time() + seconds + DEADLINE_SLACK
        conn = await self._getconn(max(0.05, deadline - loop.time()))
        reusable = False
        task = asyncio.ensure_future(_run(conn, query, seconds, limit, columns))
        try:
            done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - loop.time()))
            if not done:
                await self._stop(conn, task)
                raise QueryTimeout(f"timed out after {format_duration(timeout)}")
            try:
                rows, more = task.result()
            except psycopg.Error as e:
                raise _refusal(e, timeout) from None
            reusable = not more  # after a cut-off stream, do not trust the connection's state
            return rows, more
        finally:
            if not task.done():  # we were cancelled ourselves (the console is closing)
                await self._stop(conn, task)
            if not reusable:
                await _discard(conn)
            await self._pool.putconn(conn)

    async def _getconn(self, seconds: float) -> psycopg.AsyncConnection:
        if self._pool is None:
            raise QueryRefused("configured SQL is off: the database URL (or [database] query_url) cannot be read")
        try:
            return await self._pool.getconn(timeout=seconds)
        except PoolTimeout:
            last = self._connect_error[0]
            if last is not None:
                raise QueryRefused(f"cannot connect as {self.role}: {one_line(last)}") from None
            raise QueryRefused(f"no connection as {self.role} within {seconds:.1f}s (every one busy?)") from None

    async def _stop(self, conn: psycopg.AsyncConnection, task: asyncio.Future) -> None:
        """Cancel the running query on the server. One that ignores the cancel (a
        function trapping query_canceled) has its socket closed and its backend
        terminated (a role may end its own backends): nothing it holds, a session
        advisory lock say, outlives the deadline."""
        pid = conn.info.backend_pid
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.cancel_safe(timeout=CANCEL_WAIT), CANCEL_WAIT)
        done, _ = await asyncio.wait({task}, timeout=CANCEL_WAIT)
        if not done:
            conn.pgconn.finish()  # the task's wait then ends at once, without a second cancel round
            task.cancel()
            await asyncio.wait({task}, timeout=CANCEL_WAIT)
            await self._terminate(pid)
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: the reason is the timeout, not what the query said then

    async def _terminate(self, pid: int) -> None:
        try:
            async with asyncio.timeout(2 * CANCEL_WAIT):
                conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=2)
                async with conn:
                    await conn.execute("select pg_terminate_backend(%s, %s)", (pid, int(CANCEL_WAIT * 1000)))
        except (psycopg.Error, TimeoutError) as e:
            log.warning("could not end the runaway query's backend %s: %s", pid, one_line(e))


async def _configure(conn: psycopg.AsyncConnection) -> None:
    await conn.set_read_only(True)  # psycopg then opens transactions with BEGIN READ ONLY


def _recording_connection(holder: list):
    """A connection class that keeps the last connection error in `holder[0]`: the
    pool retries in the background, and only this says *why* it cannot connect."""

    class _Recording(psycopg.AsyncConnection):
        @classmethod
        async def connect(cls, *args, **kwargs):
            try:
                conn = await super().connect(*args, **kwargs)
            except psycopg.Error as e:
                holder[0] = e
                raise
            holder[0] = None
            return conn

    return _Recording


async def _run(conn: psycopg.AsyncConnection, query: str, seconds: float, limit: int,
               columns: list[str] | None = None) -> tuple[list[tuple], bool]:
    """The query in a READ ONLY transaction that is always rolled back, through the
    extended protocol (cursor.stream), reading rows one by one up to `limit`; the
    column names go into `columns` when one is given."""
    rows: list[tuple] = []
    lock_ms = int(min(seconds, LOCK_WAIT.total_seconds()) * 1000)
    try:
        async with conn.transaction(force_rollback=True):
            await conn.execute(
                "select set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)",
                (f"{max(1, int(seconds * 1000))}ms", f"{max(1, lock_ms)}ms"),
            )
            cur = conn.cursor()
            async with contextlib.aclosing(cur.stream(query)) as stream:
                async for row in stream:
                    if columns is not None and not columns and cur.description:
                        columns.extend(c.name for c in cur.description)
                    if len(rows) == limit:
                        raise _CutOff
                    rows.append(row)
            if columns is not None and not columns and cur.description:  # no rows: names all the same
                columns.extend(c.name for c in cur.description)
    except _CutOff:
        return rows, True  # the stream was cancelled mid-way: the caller closes this connection
    await conn.execute("discard all")  # session advisory locks, settings, LISTENs: gone
    return rows, False


class _CutOff(Exception):
    """The query has more rows than asked for."""


async def _discard(conn: psycopg.AsyncConnection) -> None:
    """Close a connection whose state is not known to be clean (the pool replaces it).
    A session advisory lock survives a rolled-back transaction, and the server frees
    it only once it has noticed the close: DISCARD ALL first, when the connection can
    still take a command, frees it before we return."""
    if not conn.closed and conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.execute("discard all"), CANCEL_WAIT)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(conn.close(), CANCEL_WAIT)
    if not conn.closed:
        conn.pgconn.finish()


def _refusal(e: psycopg.Error, timeout: timedelta) -> QueryRefused:
    if isinstance(e, psycopg.errors.QueryCanceled):  # its statement_timeout, on the server
        return QueryTimeout(f"timed out after {format_duration(timeout)}")
    return QueryRefused(_reason(e, timeout))


def _reason(e: psycopg.Error, timeout: timedelta) -> str:
    """What the screen says about a failed query."""
    if isinstance(e, psycopg.errors.LockNotAvailable):
        return f"refused: waited more than {format_duration(min(timeout, LOCK_WAIT))} for a lock"
    text = one_line(e)
    if isinstance(e, psycopg.errors.SyntaxError) and "multiple commands" in text:
        return "refused: the query holds more than one statement; configured SQL runs exactly one"
    if isinstance(e, psycopg.errors.ReadOnlySqlTransaction):
        return f"refused: configured SQL is read-only ({text})"
    if isinstance(e, psycopg.errors.InsufficientPrivilege):
        return f"refused: {text} (configured SQL runs as a read-only role)"
    if isinstance(e, psycopg.ProgrammingError) and not e.sqlstate:
        return f"the query returned no rows ({text}); configured SQL must be a query that returns rows"
    if isinstance(e, (psycopg.OperationalError, psycopg.InterfaceError)) and not e.sqlstate:
        return f"lost the connection: {text}"
    return text


# -- the role ------------------------------------------------------------------------

# Run by the console's own (superuser) role on the embedded server, on every start, in
# every database it uses: idempotent, and it must follow the migrations (schema
# gonogo_shared) and the demo's seed (schema demo). A user-given server's reader role
# is the user's to create; README lists the same grants.
GRANT_READER = """
do $grant$
declare
    s name;
    r text;
begin
    if not exists (select from pg_roles where rolname = 'gonogo_reader') then
        begin
            create role gonogo_reader;
        exception when duplicate_object then null;  -- another process made it meanwhile
        end;
    end if;
    -- It may log in (the embedded server trusts its local socket), and nothing else.
    -- Roles are server-wide and the lock above is per database: touch pg_authid only
    -- when something is off, so that two databases' starts do not race on it.
    if exists (select from pg_roles where rolname = 'gonogo_reader' and (not rolcanlogin or rolsuper
               or rolcreatedb or rolcreaterole or rolinherit or rolreplication or rolbypassrls)) then
        alter role gonogo_reader login nosuperuser nocreatedb nocreaterole noinherit noreplication nobypassrls;
    end if;
    for r in select m.roleid::regrole::text from pg_auth_members m
             where m.member = 'gonogo_reader'::regrole loop  -- e.g. pg_read_all_data, pg_signal_backend
        execute format('revoke %s from gonogo_reader', r);
    end loop;
    if not exists (select from pg_db_role_setting s join pg_roles r on r.oid = s.setrole
                   where r.rolname = 'gonogo_reader' and s.setdatabase = 0
                     and 'default_transaction_read_only=on' = any(s.setconfig)) then
        alter role gonogo_reader set default_transaction_read_only = on;
    end if;
    execute format('grant connect on database %I to gonogo_reader', current_database());
    execute format('revoke temporary on database %I from public', current_database());
    if exists (select from pg_namespace where nspname = 'public') then
        revoke create on schema public from public;
    end if;
    -- Read every schema of the monitored system (public, the demo's), now and later...
    for s in select nspname from pg_namespace
             where nspname not in ('gonogo', 'information_schema') and nspname !~ '^pg_' loop
        execute format('grant usage on schema %I to gonogo_reader', s);
        execute format('revoke create on schema %I from gonogo_reader', s);
        execute format('grant select on all tables in schema %I to gonogo_reader', s);
        execute format('alter default privileges in schema %I grant select on tables to gonogo_reader', s);
    end loop;
    -- ... and nothing of the console's own (gonogo_shared.alerts is its one window).
    if exists (select from pg_namespace where nspname = 'gonogo') then
        revoke all on schema gonogo from gonogo_reader;
        revoke all on all tables in schema gonogo from gonogo_reader;
        revoke all on all sequences in schema gonogo from gonogo_reader;
        alter default privileges in schema gonogo revoke all on tables from gonogo_reader;
    end if;
end
$grant$
"""


def grant_reader(admin_url: str) -> None:
    """Create (or repair) `gonogo_reader` and its grants in the database of
    `admin_url`. Blocking: call it off the event loop."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", (GRANT_LOCK,))
            conn.execute(GRANT_READER)
