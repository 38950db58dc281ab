"""The one place the console talks to PostgreSQL. Aggregates are computed by SQL;
rows are never fetched into Python to be counted."""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from checks.models import Alert, AlertDetail, GateReading
from checks.notices import CRITICAL_SEVERITIES

from ..secrets import one_line
from .notify import NotifyTables
from .probes import ProbeTables
from .rollout import RolloutTables
from .sandbox import QuerySandbox, reader_url
from .schema import MIGRATIONS

log = logging.getLogger("gonogo.store")
logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)

MIGRATION_LOCK = 0x60_6060
# A leader whose host dies must lose its advisory lock in seconds, not after the
# kernel's two-hour TCP keepalive (ignored on Unix sockets, where it is not needed).
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
LEADER_LOCK_BASE = 0x60_6000
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


class Store(ProbeTables, RolloutTables, NotifyTables):
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

    # -- gate evaluations -------------------------------------------------------

    async def record_evaluations(self, at: datetime, readings: Sequence[GateReading]) -> None:
        async with self.connection() as conn:
            async with conn.cursor() as cur:
                # What each value was judged over goes with it (migration 12): a report
                # for a past moment reads it back from here alone.
                await cur.executemany(
                    "insert into gonogo.gate_evaluations"
                    " (at, gate, value, band, gate_window, unit, window_s, covered_s, samples, detail)"
                    " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
                    [(at, r.name, r.value, r.band.value, r.window, r.unit,
                      r.coverage.window_seconds if r.coverage else None,
                      r.coverage.covered_seconds if r.coverage else None,
                      r.coverage.samples if r.coverage else None, pg_text(r.detail)) for r in readings],
                )

    async def gate_series(
        self, since: datetime, gates: Sequence[str] | None = None
    ) -> dict[str, list[tuple[datetime, float | None, str]]]:
        """Recorded evaluations since `since`, per gate, oldest first."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "select gate, at, value, band from gonogo.gate_evaluations"
                " where at > %s and (%s::text[] is null or gate = any(%s)) order by gate, at",
                (since, list(gates) if gates is not None else None, list(gates) if gates is not None else None),
            )
            out: dict[str, list] = {}
            for gate, at, value, band in await cur.fetchall():
                out.setdefault(gate, []).append((at, value, band))
            return out

    async def gate_trend(
        self, gate: str, since: datetime, bucket: timedelta, until: datetime | None = None
    ) -> list[tuple[datetime, float | None, float | None]]:
        """A gate's recorded values since `since` (and up to `until`, inclusive: a
        report for a past moment), one row per `bucket` (start, lowest, highest),
        oldest first: a week of 15-second evaluations is ~700 points at a
        15-minute bucket, aggregated by the database. The lowest and the highest are
        both kept so a chart can draw the worst of each bucket: a spike is not
        averaged away."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "select date_bin(%s, at, timestamptz '1970-01-01 00:00:00+00') as b, min(value), max(value)"
                " from gonogo.gate_evaluations where at > %s and gate = %s"
                " and (%s::timestamptz is null or at <= %s) group by b order by b",
                (bucket, since, gate, until, until),
            )
            return [(b, lo, hi) for b, lo, hi in await cur.fetchall()]

    # -- alerts ---------------------------------------------------------------------

    async def raise_alert(self, fingerprint: str, source: str, severity: str, name: str, summary: str,
                          at: datetime | None = None, *, labels: Mapping[str, str] | None = None,
                          labels_left_out: int = 0) -> None:
        """Open (or keep open) the alert `fingerprint`. A new episode begins, with a new
        first_at and no acknowledgement, when it was resolved, or when it turns
        critical from a lesser severity (a gate red, yellow, red again): an ack given
        to the last episode must not silence this one (checks.notices rings once per
        episode). The episode is written to gonogo.alert_episodes in the same
        transaction (see migration 13)."""
        fingerprint, source, severity, name, summary = map(pg_text, (fingerprint, source, severity, name, summary))
        # PostgreSQL's json cannot hold NUL either: written as the screen shows it.
        kept = Jsonb({pg_text(k): pg_text(v) for k, v in (labels or {}).items()})
        async with self.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "insert into gonogo.alerts (fingerprint, source, severity, name, summary, first_at, last_at, labels,"
                " labels_left_out) values (%(fp)s, %(source)s, %(severity)s, %(name)s, %(summary)s,"
                " coalesce(%(at)s, now()), coalesce(%(at)s, now()), %(labels)s, %(left_out)s)"
                " on conflict (fingerprint) do update set severity = excluded.severity, summary = excluded.summary,"
                "  name = excluded.name, labels = excluded.labels, labels_left_out = excluded.labels_left_out,"
                "  last_at = case when gonogo.alerts.resolved_at is null then gonogo.alerts.last_at else excluded.last_at end,"
                "  first_at = case when gonogo.alerts.resolved_at is not null then excluded.first_at"
                "   when lower(excluded.severity) = any(%(loud)s) and lower(gonogo.alerts.severity) <> all(%(loud)s)"
                "   then now() else gonogo.alerts.first_at end,"
                "  acked_at = case when gonogo.alerts.resolved_at is null and (lower(excluded.severity) <> all(%(loud)s)"
                "   or lower(gonogo.alerts.severity) = any(%(loud)s)) then gonogo.alerts.acked_at end,"
                "  acked_by = case when gonogo.alerts.resolved_at is null and (lower(excluded.severity) <> all(%(loud)s)"
                "   or lower(gonogo.alerts.severity) = any(%(loud)s)) then gonogo.alerts.acked_by end,"
                "  resolved_at = null"
                " returning first_at",
                {"fp": fingerprint, "source": source, "severity": severity, "name": name, "summary": summary, "at": at,
                 "labels": kept, "left_out": labels_left_out, "loud": sorted(CRITICAL_SEVERITIES)},
            )
            (first_at,) = await cur.fetchone()
            # The alert's row is locked until commit, so this statement (a snapshot of
            # its own, taken after the lock) sees every episode of the fingerprint. The
            # episode open with this first_at goes on; any other open one ended when
            # this one began (it turned critical); with none, this one begins.
            await conn.execute(
                "with ended as ("
                " update gonogo.alert_episodes set resolved_at = %(first)s"
                " where fingerprint = %(fp)s and resolved_at is null and first_at <> %(first)s)"
                " insert into gonogo.alert_episodes (fingerprint, source, severity, name, summary, first_at)"
                " select %(fp)s, %(source)s, %(severity)s, %(name)s, %(summary)s, %(first)s"
                " where not exists (select 1 from gonogo.alert_episodes"
                "  where fingerprint = %(fp)s and first_at = %(first)s and resolved_at is null)",
                {"fp": fingerprint, "source": source, "severity": severity, "name": name, "summary": summary,
                 "first": first_at},
            )

    async def resolve_alerts(self, fingerprints: Sequence[str]) -> None:
        if not fingerprints:
            return
        async with self.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "update gonogo.alerts set resolved_at = now() where fingerprint = any(%s) and resolved_at is null"
                " returning fingerprint",
                (list(fingerprints),),
            )
            await self._end_episodes(conn, [fp for (fp,) in await cur.fetchall()])

    async def resolve_missing(self, source: str, keep: Sequence[str]) -> None:
        """Resolve every open alert of `source` whose fingerprint is not in `keep`."""
        async with self.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "update gonogo.alerts set resolved_at = now() where source = %s and resolved_at is null"
                " and not (fingerprint = any(%s)) returning fingerprint",
                (source, list(keep)),
            )
            await self._end_episodes(conn, [fp for (fp,) in await cur.fetchall()])

    @staticmethod
    async def _end_episodes(conn, fingerprints: list[str]) -> None:
        """The open episodes of alerts just resolved (their rows locked by that update,
        in this transaction) end at the same now()."""
        if fingerprints:
            await conn.execute(
                "update gonogo.alert_episodes set resolved_at = now() where fingerprint = any(%s) and resolved_at is null",
                (fingerprints,),
            )

    async def ack_alert(self, fingerprint: str, who: str) -> None:
        async with self.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "update gonogo.alerts set acked_at = now(), acked_by = %s where fingerprint = %s and acked_at is null"
                " returning first_at",
                (who, fingerprint),
            )
            row = await cur.fetchone()
            if row is None:
                return
            # The alert's current episode: the newest begun at its first_at.
            await conn.execute(
                "update gonogo.alert_episodes set acked_at = now(), acked_by = %(who)s where id = ("
                " select id from gonogo.alert_episodes where fingerprint = %(fp)s and first_at = %(first)s"
                " order by id desc limit 1) and acked_at is null",
                {"who": who, "fp": fingerprint, "first": row[0]},
            )

    async def recent_alerts(self, limit: int = 50) -> list[Alert]:
        """Open alerts newest first, then those resolved in the last hour."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "select last_at, source, severity, name, summary, fingerprint, acked_at is not null, resolved_at,"
                " first_at from gonogo.alerts where resolved_at is null or resolved_at > now() - interval '1 hour'"
                " order by (resolved_at is null) desc, last_at desc limit %s",
                (limit,),
            )
            return [
                Alert(
                    at=at, source=src, severity=sev, name=name,
                    summary=(summary if res is None else f"resolved · {summary}"),
                    fingerprint=fp, acked=acked or res is not None, first_at=first_at,
                )
                for at, src, sev, name, summary, fp, acked, res, first_at in await cur.fetchall()
            ]

    async def alert_detail(self, fingerprint: str) -> AlertDetail | None:
        """One alert by its fingerprint (the unique index), whatever its state; None
        if it is gone (pruned 35 days after it resolved)."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "select fingerprint, source, severity, name, summary, first_at, last_at, resolved_at, acked_at,"
                " coalesce(acked_by, ''), labels, labels_left_out from gonogo.alerts where fingerprint = %s",
                (fingerprint,),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        fp, src, sev, name, summary, first_at, last_at, resolved_at, acked_at, acked_by, labels, left_out = row
        # jsonb is outside text too: anything but an object of strings is shown as its text.
        labels = {str(k): v if isinstance(v, str) else str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
        return AlertDetail(fingerprint=fp, source=src, severity=sev, name=name, summary=summary, first_at=first_at,
                           last_at=last_at, resolved_at=resolved_at, acked_at=acked_at, acked_by=acked_by,
                           labels=labels, labels_left_out=left_out)

    # -- leadership -------------------------------------------------------------------

    async def hold_leadership(self, key: str) -> bool:
        """Try to be (or stay) the leader for `key`: a session advisory lock held on a
        connection of its own.

        True: this process holds the lock. False: another process holds it, that is
        `pg_try_advisory_lock` answered false on a live connection; the only answer
        that means "not the leader". A connection that fails says nothing about who
        leads: StoreUnavailable, and the caller keeps the role it had (a leader goes
        on probing into its buffer through an outage).

        A lock still held by this process's own previous session (its connection broke
        on our side, a network cut, while the server kept the session) is taken back:
        that backend is ended, then the lock taken again."""
        lock_id = LEADER_LOCK_BASE + (abs(hash_key(key)) % 1_000_000)
        conn = self._leader_conn
        if conn is not None and not conn.closed:
            try:
                async with asyncio.timeout(5):
                    await conn.execute("select 1")
                return True
            except (psycopg.Error, TimeoutError):
                try:
                    await conn.close()
                except Exception:
                    pass
                self._leader_conn = None
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=3, **KEEPALIVES)
        except psycopg.Error as e:
            raise StoreUnavailable(describe_db_error(e)) from e

        async def try_lock() -> tuple[bool, tuple]:
            """(taken, (holder's backend pid, its backend_start)): a session is known by
            both, a pid alone may be reused. A bigint key < 2^32 is classid 0, objid key,
            objsubid 1 in pg_locks."""
            cur = await conn.execute("select pg_try_advisory_lock(%s)", (lock_id,))
            if (await cur.fetchone())[0]:
                return True, ()
            cur = await conn.execute(
                "select l.pid, a.backend_start from pg_locks l join pg_stat_activity a using (pid)"
                " where l.locktype = 'advisory' and l.granted and l.classid = 0 and l.objid::bigint = %s"
                " and l.objsubid = 1 limit 1", (lock_id,))
            return False, tuple(await cur.fetchone() or ())

        try:
            async with asyncio.timeout(5):
                got, session = await try_lock()
                if not got and session == getattr(self, "_leader_session", None):
                    # Our own orphaned session: end it, and take the lock once it has gone.
                    await conn.execute("select pg_terminate_backend(%s)", (session[0],))
                    for _ in range(30):
                        await asyncio.sleep(0.1)
                        got, _ = await try_lock()
                        if got:
                            break
                if got:
                    cur = await conn.execute("select pid, backend_start from pg_stat_activity where pid = pg_backend_pid()")
                    self._leader_session = tuple(await cur.fetchone())
                    self._leader_conn = conn
                    return True
        except (psycopg.Error, TimeoutError) as e:
            with contextlib.suppress(Exception):
                await conn.close()
            if isinstance(e, psycopg.Error) and not is_connection_fault(e):
                log.warning("leadership: %s", describe_db_error(e))
            raise StoreUnavailable(describe_db_error(e) if isinstance(e, psycopg.Error)
                                   else "the leadership lock did not answer within 5 s") from e
        await conn.close()
        return False


def hash_key(key: str) -> int:
    # Stable across processes (Python's hash() is salted per process).
    import zlib

    return zlib.crc32(key.encode())


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
