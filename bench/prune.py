"""Prune a backlog of raw probe rows past retention, in batches, and print the time
per batch and in all. Usage: python bench/prune.py [ROWS] (default 2,000,000)."""
from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psycopg

from console.store.db import Store
from console.store.probes import PRUNE_BATCH
from console.store.embedded import embedded_server_handle, start_embedded


async def main(rows: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="gonogo-bench-prune-"))
    root.chmod(0o755)
    url = start_embedded(root, "pg")
    store = Store(url)
    await store.open()
    await store.migrate()
    with psycopg.connect(url, autocommit=True) as c:
        t0 = time.perf_counter()
        c.execute("set statement_timeout = 0")
        c.execute("insert into gonogo.probe_results (target, at, ok, status, latency_ms, reason)"
                  " select 't' || (i %% 100), now() - interval '3 days' - i * interval '10 ms', true, 200, 1.0, ''"
                  " from generate_series(1, %s) i", (rows,))
        print(f"seeded {rows:,} raw rows past retention in {time.perf_counter() - t0:.1f} s")
    batches = []
    total = 0
    while True:
        t = time.perf_counter()
        n = await store.prune(timedelta(days=2), budget=timedelta(0))  # one batch per table per call
        batches.append(time.perf_counter() - t)
        total += n
        if n == 0:
            break
    print(f"pruned {total:,} rows in {sum(batches):.1f} s, {len(batches)} calls of at most {PRUNE_BATCH:,} rows;"
          f" median {statistics.median(batches) * 1000:.0f} ms, max {max(batches) * 1000:.0f} ms per call"
          f" (statement timeout {store.statement_timeout_ms} ms)")
    await store.close()
    embedded_server_handle(root, "pg").cleanup()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000))
