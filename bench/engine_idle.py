"""What the console's idle cost is made of, without the screen: the engine's loops
and the demo's simulated service, on the demo's database, in this one process.

    python bench/engine_idle.py [--secs 40] [--config F]

Prepares the demo as `gonogo demo` does (its embedded PostgreSQL, the seeded week,
the simulated service on threads of this process), then runs the engine with no
App for --secs in each of these setups, and prints the CPU of the event loop's
thread (the engine: evaluations, probes, the other loops) and of the other threads
(the simulated service, which the real demo runs in the console's process too),
as % of one core and as ms of CPU per evaluation:

  leader, refresh 1s   what `gonogo demo` runs under its screen
  follower, refresh 1s no probes: the evaluations alone (and LISTEN, leadership)
  follower, refresh 5s the same at a fifth of the evaluations: the difference is
                       what one evaluation a second costs
  follower, 5s, unsupervised  without the embedded server's watch (a look at its
                       postmaster every 0.5 s, on a worker thread)

The embedded PostgreSQL's own CPU is not counted (processes of its own). Run it from
a directory of its own: the demo's database goes under that config's data_dir (it
is stopped at the end).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK")


def thread_ticks() -> dict[int, int]:
    out = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            out[int(task.name)] = int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return out


async def run_engine(config, secs: float, *, lead: bool, supervise: bool = True) -> dict:
    from console.engine import Engine
    from console.runtime import open_store

    store = await open_store(config, embedded_name="demo-pg")
    if not supervise:
        store.supervisor = None  # what the embedded server's watch (0.5 s, on a thread) costs, by its absence
    snaps = 0

    def count(_snap) -> None:
        nonlocal snaps
        snaps += 1

    engine = Engine(config, store, on_snapshot=count, lead=lead)
    task = asyncio.create_task(engine.run())
    try:
        await asyncio.sleep(8)  # the first reads (cold) and the leadership settle
        main = threading.get_native_id()
        t0, n0, w0 = thread_ticks(), snaps, time.perf_counter()
        await asyncio.sleep(secs)
        t1, n1, w1 = thread_ticks(), snaps, time.perf_counter()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await engine.aclose()
        await store.close()
    wall = w1 - w0
    loop_s = (t1.get(main, 0) - t0.get(main, 0)) / HZ
    other_s = sum(t - t0.get(tid, 0) for tid, t in t1.items() if tid != main) / HZ
    return {"loop_pct": 100 * loop_s / wall, "other_pct": 100 * other_s / wall, "evals_per_s": (n1 - n0) / wall,
            "ms_per_eval": 1000 * loop_s / max(1, n1 - n0), "leader": engine.leader}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--secs", type=float, default=40)
    ap.add_argument("--config", default="config.toml")
    ap.add_argument("--only", type=int, default=None, help="run only this setup (0, 1, 2), e.g. to profile it")
    args = ap.parse_args()
    from console.config import load_config
    from console.demo.run import prepare_demo

    config = load_config(Path(args.config))
    demo_config, controls = prepare_demo(config)
    demo_config = demo_config.model_copy(update={"database": demo_config.database.model_copy(update={"url": ""})})
    try:
        setups = (("leader, refresh 1s", True, 1, True), ("follower, refresh 1s", False, 1, True),
                  ("follower, refresh 5s", False, 5, True), ("follower, 5s, unsupervised", False, 5, False))
        for label, lead, refresh, supervise in setups if args.only is None else setups[args.only:args.only + 1]:
            cfg = demo_config.model_copy(update={"console": demo_config.console.model_copy(
                update={"refresh": timedelta(seconds=refresh)})})
            r = asyncio.run(run_engine(cfg, args.secs, lead=lead, supervise=supervise))
            print(f"{label:27} event loop {r['loop_pct']:5.2f} % of a core  other threads {r['other_pct']:5.2f} %"
                  f"  {r['evals_per_s']:4.2f} evaluations/s  {r['ms_per_eval']:5.1f} ms of loop CPU each"
                  f"  (leader: {r['leader']})")
    finally:
        controls.service.stop() if hasattr(controls, "service") else None


if __name__ == "__main__":
    main()
