"""Supervision of the embedded PostgreSQL server: every long-running gonogo process
that uses it (`gonogo`, `gonogo watch`, the demo; never a one-shot command) watches
the server's postmaster and, when it dies, starts it again with a bounded backoff
(0.5 s doubling to 30 s). Two processes on one server both watch it; the wheel's
inter-process lock lets one start it and the other find it running.

With a database URL nothing is supervised: that server is someone else's, and the
console reconnects when it comes back.

The engine reads `restarting`, `attempt` and `describe()` for the screen's database
status, and turns each entry of `notices` into a critical alert once the database
answers again (console/engine/core.py).
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .embedded import EmbeddedError, StartLockBusy, pgdata_path, postmaster_state, refresh_handle, restart_embedded

log = logging.getLogger("gonogo.embedded")

CHECK_EVERY = 0.5     # seconds between two looks at the postmaster where its pidfd cannot be waited on
RECHECK = 5.0         # seconds between two looks at postmaster.pid while waiting on the postmaster's pidfd
BACKOFF_FIRST = 0.5   # the first start waits this long after the death, then it doubles ...
BACKOFF_MAX = 30.0    # ... up to this
STABLE_AFTER = 60.0   # up this long after a start: the next death starts again from attempt 1


@dataclass(frozen=True)
class Restarted:
    """One outage of the embedded server that this process ended (or saw end)."""

    at: datetime
    attempts: int
    down_for: float  # seconds
    how: str
    cause: str

    def summary(self) -> str:
        return (f"{self.cause}; {self.how} after {self.down_for:.1f} s ({self.attempts} attempt"
                f"{'' if self.attempts == 1 else 's'}). Probes taken meanwhile were kept and written back.")


class EmbeddedSupervisor:
    def __init__(self, data_dir: Path, name: str = "pg", *, check_every: float = CHECK_EVERY,
                 backoff_first: float = BACKOFF_FIRST, backoff_max: float = BACKOFF_MAX,
                 stable_after: float = STABLE_AFTER):
        self.data_dir = data_dir
        self.name = name
        self.pgdata = pgdata_path(data_dir, name)
        self.check_every = check_every
        self.backoff_first = backoff_first
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.restarting = False
        self.attempt = 0          # start attempts in the current outage (and the flapping after it)
        self.reason = ""          # why it is down, or why the last attempt failed
        self.restarts = 0         # outages ended, in this process's lifetime
        self.notices: deque[Restarted] = deque(maxlen=20)  # for the engine: raise an alert, then pop
        self._pid: int | None = None

    def describe(self) -> str:
        """The database status while it restarts, as the screen and `watch` show it."""
        if not self.restarting:
            return ""
        return f"database restarting (attempt {max(1, self.attempt)}): {self.reason}"

    async def run(self, on_change: Callable[[], None] | None = None) -> None:
        """Watch until cancelled. `on_change` is called (on the loop) when the server
        is found dead and when it is back, so the screen says so at once."""
        changed = on_change or (lambda: None)
        up_since = time.monotonic()
        last_pid = None
        while True:
            alive, pid, why = await asyncio.to_thread(postmaster_state, self.pgdata)
            if alive:
                if pid != last_pid and last_pid is not None:
                    refresh_handle(self.data_dir, self.name)  # started by another process
                last_pid = pid
                if self.attempt and time.monotonic() - up_since > self.stable_after:
                    self.attempt = 0  # stable again: a later death backs off from the start
                await self._until_exit(pid)
                continue
            up_since = await self._bring_back(why, changed)
            last_pid = None

    async def _until_exit(self, pid: int | None) -> None:
        """Until the postmaster `pid` exits, or RECHECK seconds: its pidfd turns
        readable the moment it dies, so a death is seen at once and an idle console
        does not look every half second (that look, on a thread, was a tenth of its
        idle CPU). Without a pidfd (another kernel, a pid gone already), CHECK_EVERY."""
        try:
            fd = os.pidfd_open(pid) if pid else None
        except (AttributeError, OSError):
            fd = None
        if fd is None:
            await asyncio.sleep(self.check_every)
            return
        loop = asyncio.get_running_loop()
        gone = loop.create_future()
        loop.add_reader(fd, lambda: gone.done() or gone.set_result(None))
        try:
            # Looked at anyway now and then: a postmaster.pid removed or rewritten by
            # another process's restart says more than this pid alone.
            await asyncio.wait_for(gone, RECHECK)
        except asyncio.TimeoutError:
            pass
        finally:
            loop.remove_reader(fd)
            os.close(fd)

    async def _bring_back(self, cause: str, changed: Callable[[], None]) -> float:
        """From a death to a server that answers; returns when (monotonic) it did."""
        down_at = time.monotonic()
        self.restarting = True
        self.reason = cause
        log.error("%s: starting it again", cause)
        changed()
        try:
            while True:
                self.attempt += 1
                await asyncio.sleep(min(self.backoff_max, self.backoff_first * 2 ** min(self.attempt - 1, 16)))
                try:
                    started, how = await asyncio.to_thread(restart_embedded, self.data_dir, self.name)
                except StartLockBusy:
                    # Someone else is starting or stopping a server (maybe ours): wait
                    # as long again, without growing the backoff (twice measured: a
                    # restart past 105 s while a demo quit beside it).
                    self.attempt -= 1
                    continue
                except EmbeddedError as e:
                    self.reason = f"{cause}; attempt {self.attempt} failed: {e}"
                    log.error("embedded PostgreSQL: attempt %d to start it failed: %s", self.attempt, e)
                    changed()
                    continue
                down_for = time.monotonic() - down_at
                self.restarts += 1
                note = Restarted(at=datetime.now(timezone.utc), attempts=self.attempt, down_for=down_for,
                                 how=how, cause=cause)
                if started:  # the process that started it says so; the others only log
                    self.notices.append(note)
                log.warning("embedded PostgreSQL %s after %.1f s (attempt %d); cause: %s",
                          how, down_for, self.attempt, cause)
                return time.monotonic()
        finally:
            self.restarting = False
            changed()
