"""Idle CPU of two versions of the console, side by side with the Textual floor, in
one run: for telling what one change saves, on a machine whose noise would swamp
two separate runs.

    python bench/idle_ab.py --a /path/to/old/tree [--b /work/main] [--secs 40] [--runs 3]

Each tree (a copy of the repository: its `console`, `widgets` and `checks`) runs
`python -m console demo` from this venv in a tmux pane at 160×48, with the tree
first on PYTHONPATH, on one shared warmed demo database; the floor is
../shared/bench/textual_floor.py. Runs are interleaved (a, b, floor, a, b, floor,
...) so that the machine's noise hits all three alike. Prints the medians of the
CPU (% of one core, over --secs of idle after 10 s to settle) and RSS, and each
ratio to the floor. The demo's embedded PostgreSQL is not counted (processes of
its own); it is stopped at the end, and its temporary directory removed.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from console_startup_idle import idle_sample, run_floor, stop_embedded, tmux  # noqa: E402


def run_tree(tree: Path, data: Path, secs: int, tag: str) -> dict:
    session = f"ab{tag}{os.getpid()}"
    cmd = (f"cd {shlex.quote(str(data))} && PYTHONPATH={shlex.quote(str(tree))} "
           f"exec {shlex.quote(sys.executable)} -m console demo")
    subprocess.run(["tmux", "new", "-d", "-s", session, "-x", "160", "-y", "48", cmd], check=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "clean days" not in tmux("capture-pane", "-p", "-t", session):
            time.sleep(0.1)
        time.sleep(10)
        sample = idle_sample(session, secs)
    finally:
        tmux("send-keys", "-t", session, "q")
        time.sleep(3)
        tmux("kill-session", "-t", session)
    screen = sample.pop("screen")
    if "error_rate" not in screen:
        raise SystemExit(f"{tree}: the console did not show the gates:\n{screen}")
    return sample


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, type=Path)
    ap.add_argument("--b", default=ROOT, type=Path)
    ap.add_argument("--secs", type=int, default=40)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="gonogo-bench-"))
    (data / "config.toml").write_text((ROOT / "config.toml").read_text().replace(
        'data_dir = "~/.local/share/gonogo"', f'data_dir = "{data / "data"}"'))
    try:
        run_tree(args.b, data, 1, "warm")  # creates and seeds the demo database
        rows: dict[str, list[dict]] = {"a": [], "b": [], "floor": []}
        for _ in range(args.runs):
            rows["a"].append(run_tree(args.a.resolve(), data, args.secs, "a"))
            rows["b"].append(run_tree(args.b.resolve(), data, args.secs, "b"))
            rows["floor"].append(run_floor(sys.executable, args.secs))
    finally:
        stop_embedded(data / "data" / "demo-pg")
        shutil.rmtree(data, ignore_errors=True)
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("cpu_pct", "rss_mb")} for k, v in rows.items()}
    floor = med["floor"]["cpu_pct"]
    print(f"runs={args.runs} idle_secs={args.secs}  a={args.a}  b={args.b}")
    for k in ("a", "b", "floor"):
        cpus = ", ".join(f"{r['cpu_pct']:.2f}" for r in rows[k])
        print(f"{k:6} cpu {med[k]['cpu_pct']:5.2f} % (x{med[k]['cpu_pct'] / floor:4.1f} the floor)  "
              f"rss {med[k]['rss_mb']:5.0f} MB   runs: {cpus}")


if __name__ == "__main__":
    main()
