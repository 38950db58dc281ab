"""What probing costs gonogo, and whether it measures the service or itself.

    python bench/probe_load.py [--secs 30] [--targets 10,100,300]

For each number of targets: a health endpoint on 127.0.0.1 in a process of its own
(tests/fastserver.py: {"status": "ok"} after ~1 ms, keep-alive; its CPU is not
counted), and the engine's own probe loops (Engine._probe_loop with make_client's
client, as leader, every target at interval 1 s, results drained from the engine's
buffer as _flush_probes would) for --secs seconds. The first 2 s (connections being
opened) are left out. Prints, per size: probes per second, CPU per probe and % of a
core of this process (getrusage: user + system, every thread), gaps of more than
1.5 s between two probes of one target, failed probes, and the p50 / p95 of the
recorded latency: with a server that answers in ~1 ms, anything above that is
gonogo's own queueing.

`run(n_targets, secs)` returns the same figures as a dict (bench/scale.py calls it).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.config import parse_config  # noqa: E402
from console.engine import Engine  # noqa: E402
from tests.fastserver import spawn  # noqa: E402

WARMUP = 2.0  # seconds left out at the start
GAP = 1.5  # seconds between two probes of one target at a 1 s interval that count as a gap
SERVER_DELAY = 0.001  # seconds the endpoint takes to answer


def run(n_targets: int, secs: float = 30.0) -> dict:
    """Probe n_targets (interval 1 s) for WARMUP + secs seconds; the figures of the
    last secs seconds."""
    with spawn(delay=SERVER_DELAY) as base_url:
        return asyncio.run(_run(base_url, n_targets, secs))


def _config(base_url: str, n_targets: int):
    return parse_config({
        "database": {"url": "postgresql://bench@127.0.0.1:1/none"},  # never opened: no store is used
        "targets": [
            {"name": f"t{i:03d}", "url": f"{base_url}/health/t{i:03d}", "interval": "1s", "timeout": "2s"}
            for i in range(n_targets)
        ],
        "gates": [{"name": "p95_latency", "source": "probe", "window": "5m"}],
        "auto_rollback": {"enabled": False},
        "burn_in": {"start": "2026-11-20T00:00:00Z", "days": 7, "review": "2026-11-28T09:00:00Z"},
    })


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _run(base_url: str, n_targets: int, secs: float) -> dict:
    config = _config(base_url, n_targets)
    # Only the probe loops run: no store (a stub that has no supervisor) and no
    # rollout controller are ever used by them.
    engine = Engine(config, SimpleNamespace(supervisor=None), lead=False, controller=SimpleNamespace())
    engine.leader = True
    results = []
    tasks = [asyncio.create_task(engine._probe_loop(t)) for t in config.targets]
    try:
        await _drain(engine, results, WARMUP)
        results.clear()
        cpu0, wall0 = _cpu_seconds(), time.perf_counter()
        await _drain(engine, results, secs)
        cpu1, wall1 = _cpu_seconds(), time.perf_counter()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await engine.aclose()
    return _figures(results, n_targets, cpu1 - cpu0, wall1 - wall0)


async def _drain(engine: Engine, into: list, secs: float) -> None:
    """Take the buffer's results every second for `secs`, as the evaluation does."""
    end = time.perf_counter() + secs
    while (left := end - time.perf_counter()) > 0:
        await asyncio.sleep(min(1.0, left))
        while engine._buffer:
            into.append(engine._buffer.popleft())


def _figures(results: list, n_targets: int, cpu: float, wall: float) -> dict:
    by_target = defaultdict(list)
    for r in results:
        by_target[r.target].append(r.at)
    gaps = 0
    for ats in by_target.values():
        ats.sort()
        gaps += sum((b - a).total_seconds() > GAP for a, b in zip(ats, ats[1:]))
    latencies = sorted(r.latency_ms for r in results if r.latency_ms is not None)
    n = len(results)
    return {
        "targets": n_targets,
        "secs": wall,
        "probes": n,
        "probes_per_s": n / wall,
        "cpu_ms_per_probe": 1000 * cpu / n if n else float("nan"),
        "cpu_pct": 100 * cpu / wall,
        "gaps": gaps,
        "failed": sum(not r.ok for r in results),
        "p50_ms": _percentile(latencies, 0.50),
        "p95_ms": _percentile(latencies, 0.95),
        "max_ms": latencies[-1] if latencies else float("nan"),
    }


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--secs", type=float, default=30.0, help="seconds measured per size (after %gs of warm-up)" % WARMUP)
    ap.add_argument("--targets", default="10,100,300", help="numbers of targets, comma-separated")
    args = ap.parse_args()
    sizes = [int(s) for s in args.targets.split(",")]
    print(f"interval 1 s, a server answering in ~{SERVER_DELAY * 1000:g} ms in its own process, {args.secs:g} s per size")
    print("| targets | probes/s | CPU ms/probe | % of a core | gaps > 1.5 s | failed | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        r = run(n, args.secs)
        print(f"| {n} | {r['probes_per_s']:.1f} | {r['cpu_ms_per_probe']:.3f} | {r['cpu_pct']:.1f} | {r['gaps']} |"
              f" {r['failed']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['max_ms']:.1f} |", flush=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
