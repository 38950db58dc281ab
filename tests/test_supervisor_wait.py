"""The supervisor waits on the postmaster's pidfd (console/store/supervisor.py): a
death is seen the moment it happens, not at the next look, so an idle console need
not look every half second. Real server, real SIGKILL."""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

from console.store.embedded import pgdata_path, start_embedded
from console.store.supervisor import EmbeddedSupervisor

from .conftest import wait_for
from .outage import data_dir, postmaster, stop_server  # noqa: F401 (data_dir is a fixture)


async def test_a_killed_postmaster_is_seen_at_once_and_started_again(data_dir):  # noqa: F811
    await asyncio.to_thread(start_embedded, data_dir, "pg")
    pgdata = pgdata_path(data_dir, "pg")
    first, _ = postmaster(pgdata)
    assert first is not None
    # A look every minute: only the pidfd can see the death within a second.
    sup = EmbeddedSupervisor(data_dir, "pg", check_every=60, backoff_first=0.1, backoff_max=0.5)
    changes: list[float] = []
    task = asyncio.create_task(sup.run(on_change=lambda: changes.append(time.monotonic())))
    try:
        await asyncio.sleep(0.5)  # waiting on the pidfd now
        assert changes == []
        killed_at = time.monotonic()
        os.kill(first, signal.SIGKILL)
        await wait_for(None, lambda: changes, timeout=5, what="the death seen")
        assert changes[0] - killed_at < 1.0
        await wait_for(None, lambda: sup.restarts == 1, timeout=30, what="the server started again")
        again, _ = postmaster(pgdata)
        assert again is not None and again != first
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        stop_server(pgdata)
