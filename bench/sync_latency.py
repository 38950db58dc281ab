"""Time from a rollout action committed in one process to it being shown in
another console. Run: python bench/sync_latency.py [--n 30]

One process (the actor) commits actions through the RolloutController, as the CLI
and another console do, and reports the commit time; this process runs the real
console headless (Textual's run_test) on the same embedded PostgreSQL and notes when
its rollout panel shows the new version. Prints the median, p90 and max in ms.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.app import make_app  # noqa: E402
from console.config import parse_config  # noqa: E402
from console.store.embedded import start_embedded  # noqa: E402
from widgets.rollout_panel import RolloutPanel  # noqa: E402

ACTOR = r"""
import asyncio, sys, time
from datetime import timedelta
from checks.models import Verdict
from console.rollout import RolloutController
from console.store.db import Store

async def main():
    s = Store(sys.argv[1]); await s.open()
    c = RolloutController(s, flag="phase_4_deployment", steps=[0, 5, 10, 25, 50, 75, 100], soak_for=lambda p: timedelta(hours=12))
    await c.act("advance", operator="bench", reason="start", verdict=Verdict.GO, override=True)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    n = 0
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        action = "hold" if n % 2 == 0 else "resume"
        r = await c.act(action, operator="bench", reason="bench", verdict=Verdict.GO)
        print(f"{r.version} {time.time():.6f}", flush=True)
        n += 1
    await s.close()
asyncio.run(main())
"""


class Ok(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status":"ok"}')

    def log_message(self, *a):
        pass


async def main(n: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="gonogo-bench-sync-"))
    root.chmod(0o755)
    url = start_embedded(root, "pg")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    config = parse_config({
        "database": {"url": url},
        "targets": [{"name": "api", "url": f"http://127.0.0.1:{srv.server_address[1]}/health", "interval": "5s"}],
        "gates": [{"name": "error_rate", "source": "probe"}, {"name": "p95_latency", "source": "probe"}],
        "alerts": {"cost_query": "", "events_query": ""},
    })
    app = make_app(config)
    latencies = []
    async with app.run_test(size=(120, 36)) as pilot:
        while app.snapshot is None or app.snapshot.rollout is None:
            await pilot.pause(0.05)
        actor = await asyncio.create_subprocess_exec(
            sys.executable, "-c", ACTOR, url, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            cwd=str(Path(__file__).resolve().parents[1]))
        assert (await actor.stdout.readline()).decode().strip() == "ready"
        panel = app.screen.query_one(RolloutPanel)
        for _ in range(n):
            actor.stdin.write(b"go\n")
            await actor.stdin.drain()
            version_s, committed_s = (await actor.stdout.readline()).decode().split()
            version = int(version_s)
            deadline = time.monotonic() + 5
            while (panel.view is None or panel.view.version < version) and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
            latencies.append((time.time() - float(committed_s)) * 1000)
            await asyncio.sleep(0.3)
        actor.stdin.close()
        await actor.wait()
    srv.shutdown()
    lat = sorted(latencies)
    print(f"actions={n}  commit → shown in another console: median={statistics.median(lat):.0f} ms  "
          f"p90={lat[int(0.9 * (n - 1))]:.0f} ms  max={lat[-1]:.0f} ms  (target: median < 300 ms)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30)
    asyncio.run(main(ap.parse_args().n))
