"""Leadership: which engine writes probes and acts on auto-rollback for a rollout,
the one holding a PostgreSQL session advisory lock on a connection of its own
(DESIGN.md: "one holds a PostgreSQL advisory lock and is the leader")."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib

import psycopg

log = logging.getLogger("gonogo.store")

LEADER_LOCK_BASE = 0x60_6000


def hash_key(key: str) -> int:
    # Stable across processes (Python's hash() is salted per process).
    return zlib.crc32(key.encode())


class LeadershipTables:
    """Leadership of the Store (mixed into console.store.db.Store, which opens and
    closes `_leader_conn` with its pools)."""

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
        # db.py mixes this family into the Store, so its names are imported when called.
        from .db import KEEPALIVES, StoreUnavailable, describe_db_error, is_connection_fault

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
