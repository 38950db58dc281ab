"""Scale: evaluation time against the number of probe rows, and the cost of probing.

    python bench/scale.py [--runs 20] [--sizes 0.1,1,10] [--probe-secs 20] [--no-probes]

Evaluation: 100 targets, 30 probe gates (error rate, p95, uptime and checks passing
over 1 m, 5 m, 1 h, 24 h and 7 d for all targets, and 10 one-target gates), read by the
engine's own evaluation (Engine.evaluate, as a follower: it writes nothing). Probe
rows are seeded through the project's own ingest path (Store.insert_probes, so the
rollup trigger builds the rollups as it does live), newest first, one probe per
target every 6.05 s: 0.1 M rows is the last 100 minutes, 1 M the last 17 hours, 10 M
a week. Before each measurement the last minutes are topped up to now, so the short
windows hold live data. For each size it prints the median, p95 and max of --runs
evaluations (the settled parts of the long windows kept, as in the console), the
median of a cold read (nothing kept: what the console pays once a minute or hour),
and the ratio of the medians to the smallest size. Then EXPLAIN ANALYZE of the one
statement a cold read sends, at the largest size.

Probing: bench/probe_load.py at 10, 100 and 300 targets (probes/s, CPU per probe, %
of a core, gaps over 1.5 s, recorded p95 against a server answering in ~1 ms).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from checks.models import ProbeResult  # noqa: E402
from console.config import parse_config  # noqa: E402
from console.engine import Engine  # noqa: E402
from console.engine.gate_reads import ProbeGateReader  # noqa: E402
from console.store.db import Store  # noqa: E402
from console.store.embedded import embedded_server_handle, start_embedded  # noqa: E402
from console.store.probes import _READ, _slice_param  # noqa: E402
from widgets.literal import visible  # noqa: E402

TARGETS = 100
EVERY = timedelta(seconds=6.048)  # 100 targets x 7 d = 10 M rows
WINDOWS = ["1m", "5m", "1h", "24h", "7d"]
METRICS = ["error_rate", "p95_latency", "uptime", "checks_passing"]
BATCH = 50_000


def config(db_url: str):
    gates = [{"name": f"{m}_{w}", "source": "probe", "metric": m, "window": w} for m in METRICS for w in WINDOWS]
    gates += [{"name": f"error_rate_5m_t{i}", "source": "probe", "metric": "error_rate", "window": "5m",
               "target": f"t{i}"} for i in range(5)]
    gates += [{"name": f"p95_latency_24h_t{i}", "source": "probe", "metric": "p95_latency", "window": "24h",
               "target": f"t{i}"} for i in range(5, 10)]
    return parse_config({
        "console": {"refresh": "1s", "operator": "bench"},
        "database": {"url": db_url},
        "targets": [{"name": f"t{i}", "url": f"http://127.0.0.1:9/health/{i}", "interval": "6s"}
                    for i in range(TARGETS)],
        "gates": gates,
        "alerts": {"cost_query": "", "events_query": "", "interval": "1h"},
        "burn_in": {"start": "2026-11-01T00:00:00Z", "days": 7, "review": "2026-11-30T09:00:00Z"},
        "coverage": {"min_fraction": 0.0, "min_samples": 1},
        "auto_rollback": {"gates": ["error_rate_5m", "p95_latency_5m"]},
    })


def probes_between(lo: datetime, hi: datetime, rng: random.Random):
    """One probe per target every EVERY in [lo, hi), newest first, 1 % failed,
    latencies ~ 1-40 ms; in batches of about BATCH rows (a week is 10 M rows: never
    all in memory at once)."""
    out = []
    t = hi - EVERY
    while t >= lo:
        for i in range(TARGETS):
            ok = rng.random() > 0.01
            out.append(ProbeResult.model_construct(
                target=f"t{i}", at=t + timedelta(milliseconds=60 * i), ok=ok, status=200 if ok else 503,
                latency_ms=round(math.exp(rng.gauss(1.5, 0.6)), 3), reason="" if ok else "HTTP 503"))
        t -= EVERY
        if len(out) >= BATCH:
            yield out
            out = []
    if out:
        yield out


async def ingest(store: Store, batches) -> None:
    for rows in batches:
        await store.insert_probes(rows)


async def row_count(store: Store) -> int:
    async with store.connection() as conn:
        return (await (await conn.execute("select count(*) from gonogo.probe_results")).fetchone())[0]


async def measure(engine: Engine, runs: int) -> dict:
    await engine.evaluate()  # the first reads the settled parts too
    warm = []
    trips = engine.evaluation.gate_reader.round_trips
    for _ in range(runs):
        t = time.perf_counter()
        await engine.evaluate()
        warm.append((time.perf_counter() - t) * 1000)
    trips = (engine.evaluation.gate_reader.round_trips - trips) / runs
    # A minute turning: the reader's clock a minute on at each evaluation, so each one
    # reads the moved ends of the minute-grained windows (what the console pays once a
    # minute; the hour-grained ones once an hour).
    turn = []
    start = datetime.now(timezone.utc)
    for k in range(1, max(3, runs // 4) + 1):
        engine.evaluation.gate_reader.clock = lambda k=k: start + timedelta(minutes=k)
        t = time.perf_counter()
        await engine.evaluate()
        turn.append((time.perf_counter() - t) * 1000)
    engine.evaluation.gate_reader = ProbeGateReader()
    cold = []
    for _ in range(max(3, runs // 4)):
        engine.evaluation.gate_reader = ProbeGateReader()
        t = time.perf_counter()
        await engine.evaluate()
        cold.append((time.perf_counter() - t) * 1000)
    warm.sort()
    return {"median": statistics.median(warm), "p95": warm[min(len(warm) - 1, int(0.95 * len(warm)))],
            "max": warm[-1], "cold": statistics.median(cold), "turn": statistics.median(turn),
            "trips": trips}


async def explain(engine: Engine, store: Store) -> str:
    """EXPLAIN ANALYZE of the statement a cold read sends."""
    reader = ProbeGateReader()
    sent = {}

    class Spy:
        async def read_probes(self, slices, targets):
            sent["slices"], sent["targets"] = slices, targets
            return await store.read_probes(slices, targets)

    await reader.read(Spy(), [engine.evaluation.probe_spec(g) for g in engine.config.gates])
    params = {"slices": json.dumps([_slice_param(i, s) for i, s in enumerate(sent["slices"])]),
              "targets": list(sent["targets"])}
    async with store.connection() as conn:
        cur = await conn.execute("explain (analyze, buffers, costs off) " + _READ, params)
        return "\n".join(r[0] for r in await cur.fetchall())


async def evaluation_bench(sizes: list[float], runs: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="gonogo-bench-scale-"))
    root.chmod(0o755)
    url = start_embedded(root, "pg")
    store = Store(url, statement_timeout=timedelta(seconds=120))
    await store.open()
    await store.migrate()
    rng = random.Random(7)
    engine = Engine(config(url), store, lead=False)
    now = datetime.now(timezone.utc)
    oldest = newest = now
    results = []
    try:
        for size in sizes:
            want = int(size * 1_000_000)
            t0 = time.perf_counter()
            span = EVERY * math.ceil(want / TARGETS)
            await ingest(store, probes_between(now - span, oldest, rng))  # older rows, back to the size
            oldest = now - span
            fresh = datetime.now(timezone.utc)
            await ingest(store, probes_between(newest, fresh, rng))  # the live minutes since
            newest = fresh
            async with store.connection() as conn:
                await conn.execute("vacuum analyze gonogo.probe_results, gonogo.probe_minute, gonogo.probe_hour,"
                                   " gonogo.probe_minute_latency, gonogo.probe_hour_latency")
            rows = await row_count(store)
            seeded = time.perf_counter() - t0
            m = await measure(engine, runs)
            results.append((rows, m))
            print(f"  {rows / 1e6:5.2f} M rows (seeded in {seeded:.0f} s): median {m['median']:.1f} ms,"
                  f" p95 {m['p95']:.1f}, max {m['max']:.1f}; minute turn {m['turn']:.1f}; cold read {m['cold']:.1f} ms",
                  flush=True)
        base = results[0][1]["median"]
        print("\n| raw probe rows | ms per evaluation (median) | p95 | max | minute turn | cold read | × smallest |")
        print("|---|---|---|---|---|---|---|")
        for rows, m in results:
            print(f"| {rows / 1e6:.2f} M | {m['median']:.1f} | {m['p95']:.1f} | {m['max']:.1f} | {m['turn']:.1f} | {m['cold']:.1f}"
                  f" | {m['median'] / base:.2f} |")
        print(f"\nprobe-gate statements per evaluation: {results[-1][1]['trips']:.2f}"
              f" (30 gates, 100 targets). EXPLAIN ANALYZE of a cold read at {results[-1][0] / 1e6:.1f} M rows:\n")
        print(visible(await explain(engine, store), multiline=True))  # the database's words: shown literally
    finally:
        await engine.aclose()
        await store.close()
        embedded_server_handle(root, "pg").cleanup()


def probe_bench(secs: float) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    import probe_load  # bench/probe_load.py

    print("\n| targets | probes/s | CPU ms/probe | % of a core | gaps > 1.5 s | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|---|")
    for n in (10, 100, 300):
        r = probe_load.run(n, secs)
        print(f"| {n} | {r['probes_per_s']:.0f} | {r['cpu_ms_per_probe']:.2f} | {r['cpu_pct']:.1f} |"
              f" {r['gaps']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--sizes", default="0.1,1,10", help="millions of raw rows, ascending")
    ap.add_argument("--probe-secs", type=float, default=20)
    ap.add_argument("--no-probes", action="store_true")
    args = ap.parse_args()
    print("evaluation: 100 targets, 30 probe gates, Engine.evaluate as a follower")
    asyncio.run(evaluation_bench([float(s) for s in args.sizes.split(",")], args.runs))
    if not args.no_probes:
        probe_bench(args.probe_secs)


if __name__ == "__main__":
    main()
