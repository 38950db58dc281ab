"""The one place the console talks to PostgreSQL. Aggregates are computed by SQL;
rows are never fetched into Python to be counted."""
from __future__ import annotations

import contextlib
import contextvars
import logging
from datetime import timedelta

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ..secrets import one_line
from .alerts import AlertTables
from .evaluations import EvaluationTables
from .leadership import LEADER_LOCK_BASE, LeadershipTables, hash_key  # noqa: F401 (imported from here too)
from .notify import NotifyTables
from .probes import ProbeTables
from .rollout import RolloutTables
from .sandbox import QuerySandbox, reader_url
from .schema import MIGRATIONS

logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)

MIGRATION_LOCK = 0x60_6060
# A leader whose host dies must lose its advisory lock in seconds, not after the
# kernel's two-hour TCP keepalive (ignored on Unix sockets, where it is not needed).
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
RECONNECT_WINDOW = 10.0  # seconds; see Store.__init__


def pg_text(value: object) -> str:
    """Outside text as PostgreSQL can store it: its text type cannot hold NUL, so a
    NUL is written as `\\x00`, which is how the screen shows it anyway (an alert from
    Alertmanager's JSON or an actuator's stderr must not fail the write)."""
    return str(value).replace("\x00", "\\x00")


class StoreUnavailable(Exception):
    """The database could not be reached or refused the work; the message says why."""


def describe_db_error(e: BaseException) -> str:
    """One line an operator can act on, passwords masked."""
    if "couldn't get a connection" in str(e) or isinstance(e, PoolTimeout):
        return "no connection within the timeout (server down, unreachable, or every connection busy)"
    return one_line(e)


class Store(ProbeTables, RolloutTables, NotifyTables, EvaluationTables, AlertTables, LeadershipTables):
    """Pools, sessions and migrations; every family of statements is a module of its
    own mixed in here (probes, rollout, notify, evaluations, alerts, leadership), so
    callers keep one handle: `store.x(...)`."""

    def __init__(self, url: str, *, statement_timeout: timedelta = timedelta(seconds=5), connect_timeout: float = 3.0,
                 query_url: str | None = None):
        self.url = url
        # Configured SQL never runs on the pools below, nor as their role: it gets a
        # read-only login and a pool of its own (`query_url`, else `gonogo_reader` on
        # this same server and database). See console/store/sandbox.py.
        self.sandbox = QuerySandbox(query_url or reader_url(url), connect_timeout=connect_timeout)
        self.statement_timeout_ms = int(statement_timeout.total_seconds() * 1000)
        kwargs = {
            "autocommit": True,
            "connect_timeout": max(1, int(connect_timeout)),
            **KEEPALIVES,
            "options": f"-c statement_timeout={self.statement_timeout_ms} -c application_name=gonogo",
        }
        # The pool reconnects in the background with a backoff that doubles (1 s, 2 s,
        # 4 s, ...) until its reconnect_timeout; then the next request (an evaluation,
        # every second) starts a fresh attempt. With a window of a day the backoff grew
        # with the outage, and the console stayed STALE about as long again after the
        # server was back (measured: 22 s after a 35 s outage); with this window it is
        # back within a few seconds of the server, however long the outage.
        common = dict(open=False, timeout=connect_timeout, reconnect_timeout=RECONNECT_WINDOW,
                      check=AsyncConnectionPool.check_connection, kwargs=kwargs)
        self._pool = AsyncConnectionPool(url, min_size=1, max_size=4, **common)
        # Rollout actions get connections of their own: four slow SQL gates must never
        # make a rollback wait, or be refused as "database unavailable".
        self._action_pool = AsyncConnectionPool(url, min_size=0, max_size=2, **common)
        self._leader_conn: psycopg.AsyncConnection | None = None
        # The embedded server's supervisor, set by runtime.open_store; None for a URL
        # (someone else's server) or a store made directly (tests, one-off scripts).
        self.supervisor = None
        self._pinned: contextvars.ContextVar[psycopg.AsyncConnection | None] = contextvars.ContextVar(
            f"gonogo_pinned_{id(self)}", default=None
        )

    async def open(self) -> None:
        await self._pool.open(wait=False)
        await self._action_pool.open(wait=False)
        await self.sandbox.open()

    async def close(self) -> None:
        if self._leader_conn is not None:
            try:
                await self._leader_conn.close()
            except Exception:
                pass
            self._leader_conn = None
        await self._pool.close()
        await self._action_pool.close()
        await self.sandbox.close()

    def connection(self, *, action: bool = False):
        """A pooled connection; `action=True` for rollout actions (a pool of their own)."""
        return _Conn(self._action_pool if action else self._pool, self._pinned)

    @contextlib.asynccontextmanager
    async def session(self):
        """Run every query inside on one pooled connection (one checkout for a whole
        evaluation instead of one per query)."""
        if self._pinned.get() is not None:
            yield
            return
        async with self.connection() as conn:
            token = self._pinned.set(conn)
            try:
                yield
            finally:
                self._pinned.reset(token)

    @contextlib.asynccontextmanager
    async def scratch(self):
        """Like session(), inside a transaction that is always rolled back: a one-shot
        command's own probes count for its own answer (the same SQL as every other
        evaluation) and are never written (`gonogo check` from a laptop that cannot
        reach the targets must not make the live console read "0/5 healthy")."""
        async with self.connection() as conn:
            token = self._pinned.set(conn)
            try:
                async with conn.transaction(force_rollback=True):
                    yield
            finally:
                self._pinned.reset(token)

    # -- schema ---------------------------------------------------------------

    async def migrate(self) -> int:
        """Apply pending migrations; returns the schema version."""
        async with self.connection() as conn:
            await conn.execute("create schema if not exists gonogo")
            await conn.execute(
                "create table if not exists gonogo.schema_migrations"
                " (version integer primary key, applied_at timestamptz not null default now())"
            )
            async with conn.transaction():
                await conn.execute("select pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                cur = await conn.execute("select coalesce(max(version), 0) from gonogo.schema_migrations")
                current = (await cur.fetchone())[0]
                for version, sql in MIGRATIONS:
                    if version > current:
                        await conn.execute("set local statement_timeout = 0")
                        await conn.execute(sql)
                        await conn.execute("insert into gonogo.schema_migrations (version) values (%s)", (version,))
                        current = version
            return current


class _Conn:
    """`async with store.connection() as conn`, with every database fault turned into
    StoreUnavailable carrying a masked, one-line reason."""

    def __init__(self, pool: AsyncConnectionPool, pinned: contextvars.ContextVar):
        self._pool = pool
        self._pinned = pinned
        self._cm = None

    async def __aenter__(self) -> psycopg.AsyncConnection:
        conn = self._pinned.get()
        if conn is not None:
            return conn
        self._cm = self._pool.connection()
        try:
            return await self._cm.__aenter__()
        except Exception as e:
            raise StoreUnavailable(describe_db_error(e)) from e

    async def __aexit__(self, et, ev, tb):
        if self._cm is None:  # a pinned connection: the session returns it
            if is_connection_fault(ev):
                raise StoreUnavailable(describe_db_error(ev)) from ev
            return False
        try:
            await self._cm.__aexit__(et, ev, tb)
        except Exception as e:
            raise StoreUnavailable(describe_db_error(e)) from e
        if is_connection_fault(ev):
            raise StoreUnavailable(describe_db_error(ev)) from ev
        return False


def is_connection_fault(e: BaseException | None) -> bool:
    """The database is away (as opposed to one query being wrong or too slow)."""
    if isinstance(e, psycopg.errors.QueryCanceled):
        return False
    return isinstance(e, (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout))
