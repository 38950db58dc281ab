"""Where the idle console's repaints go: which widgets Textual re-renders, how often,
how many lines and how much CPU, while `gonogo demo` idles in tmux.

    python bench/idle_renders.py [--secs 60] [--size 160x48] [--config F]

It runs the demo in a tmux pane with Textual's `Widget.render_lines` and
`Widget.refresh` wrapped (counting per widget, by class and id), lets it idle for
--secs, quits it with `q`, and prints per widget: the renders per second, the
lines rendered per second, the milliseconds of CPU per second spent in them, and
who asked for a repaint (refresh calls per second, whole or a region). It also
prints the synchronous CPU of the screen's update (layout, compositor, writing to
the terminal) and of the snapshot's handlers, and the process's CPU over the idle
seconds (getrusage), as a % of one core:
the wrappers cost a little, so compare it with itself, not with the floor
(bench/console_startup_idle.py measures that, unwrapped).

Run it from a directory of its own: the demo's embedded database goes under that
config's data_dir, and it is stopped when the demo exits.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(out: str, warm: float, config: str | None) -> None:
    """Inside the pane: wrap Textual's render and refresh, run `gonogo demo`, write the
    counts when it exits (those of the first `warm` seconds left out)."""
    from textual.widget import Widget

    stats: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0, 0])  # renders, lines, cpu s, refresh whole, region
    t_start = time.monotonic()
    mark: dict[str, float] = {}

    def name(w) -> str:
        return f"{type(w).__name__}#{w.id}" if w.id else type(w).__name__

    def counting() -> bool:
        if time.monotonic() - t_start < warm:
            return False
        if "t0" not in mark:
            ru = resource.getrusage(resource.RUSAGE_SELF)
            mark.update(t0=time.monotonic(), cpu0=ru.ru_utime + ru.ru_stime)
        return True

    render_lines, refresh = Widget.render_lines, Widget.refresh

    def timed_render_lines(self, crop):
        if not counting():
            return render_lines(self, crop)
        t = time.process_time()
        strips = render_lines(self, crop)
        s = stats[name(self)]
        s[0] += 1
        s[1] += crop.height
        s[2] += time.process_time() - t
        return strips

    callers: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def counted_refresh(self, *regions, **kw):
        if counting() and kw.get("repaint", True):
            stats[name(self)][4 if regions else 3] += 1
            # Who asked: the nearest frame outside Textual's reactive machinery (and the
            # Textual frames on the way, when Textual itself asked).
            frame, inside = sys._getframe(1), []
            while frame is not None and "/textual/" in frame.f_code.co_filename and frame.f_back is not None:
                inside.append(frame.f_code.co_name)
                frame = frame.f_back
            where = f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} {frame.f_code.co_name}"
            if "/asyncio/" in frame.f_code.co_filename:
                where += " < " + " < ".join(inside[:4])
            callers[name(self)][where] += 1
        return refresh(self, *regions, **kw)

    Widget.render_lines = timed_render_lines
    Widget.refresh = counted_refresh

    # Whole handlers, timed on the thread's CPU clock (synchronous ones only).
    from textual.app import App
    from textual.screen import Screen

    from console.app import GonogoApp
    from console.screens.dashboard import DashboardScreen

    sections: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])

    def timed(cls, attr: str, label: str) -> None:
        inner = getattr(cls, attr)

        def wrapper(*a, **kw):
            if not counting():
                return inner(*a, **kw)
            t = time.thread_time()
            try:
                return inner(*a, **kw)
            finally:
                sections[label][0] += 1
                sections[label][1] += time.thread_time() - t
        setattr(cls, attr, wrapper)

    timed(Screen, "_on_timer_update", "screen update (layout, compositor, display)")
    timed(App, "_display", "  of which: writing to the terminal")
    timed(GonogoApp, "on_snapshot_updated", "App.on_snapshot_updated (+ watchers: dashboard)")
    timed(DashboardScreen, "show", "  of which: DashboardScreen.show")

    from console.cli import main

    try:
        main(["demo", *(["--config", config] if config else [])])
    finally:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        secs = time.monotonic() - mark.get("t0", time.monotonic())
        Path(out).write_text(json.dumps({"secs": secs, "cpu_s": ru.ru_utime + ru.ru_stime - mark.get("cpu0", 0.0),
                                         "stats": stats, "callers": callers, "sections": sections}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--secs", type=int, default=60)
    ap.add_argument("--size", default="160x48")
    ap.add_argument("--config", default=None, help="default: ./config.toml")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--warm", type=float, default=15.0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.warm, args.config)
        return
    width, height = args.size.split("x")
    out = Path(tempfile.mkdtemp(prefix="gonogo-renders-")) / "stats.json"
    session = f"renders{os.getpid()}"
    cmd = (f"exec {shlex.quote(sys.executable)} {shlex.quote(str(Path(__file__).resolve()))} --child {out} "
           f"--warm {args.warm}" + (f" --config {shlex.quote(str(Path(args.config).resolve()))}" if args.config else ""))
    subprocess.run(["tmux", "new", "-d", "-s", session, "-x", width, "-y", height, f"cd {shlex.quote(os.getcwd())} && {cmd}"],
                   check=True)
    try:
        time.sleep(args.warm + args.secs)
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 30
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    data = json.loads(out.read_text())
    secs = data["secs"]
    print(f"idle {secs:.0f} s at {args.size}: process CPU {100 * data['cpu_s'] / secs:.2f} % of a core (wrapped)")
    print(f"{'widget':40} {'renders/s':>9} {'lines/s':>8} {'cpu ms/s':>8} {'refresh/s':>9} {'region/s':>8}")
    rows = sorted(data["stats"].items(), key=lambda kv: -kv[1][2])
    total = 0.0
    for w, (n, lines, cpu, whole, region) in rows:
        total += cpu
        print(f"{w[:40]:40} {n / secs:9.2f} {lines / secs:8.1f} {1000 * cpu / secs:8.2f} {whole / secs:9.2f} "
              f"{region / secs:8.2f}")
    print(f"{'all render_lines':40} {'':9} {'':8} {1000 * total / secs:8.2f}")
    print("handlers (synchronous CPU on the event loop's thread):")
    for label, (n, cpu) in data["sections"].items():
        print(f"  {label:50} {n / secs:6.2f}/s {1000 * cpu / secs:6.2f} ms/s")
    print("who asked for the repaints (more than one a minute):")
    for w, where in sorted(data["callers"].items()):
        for at, n in sorted(where.items(), key=lambda kv: -kv[1]):
            if n / secs > 1 / 60:
                print(f"  {w[:38]:38} {n / secs:6.2f}/s  {at}")


if __name__ == "__main__":
    main()
