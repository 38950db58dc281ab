"""Fixtures that run the REAL Prometheus and Alertmanager binaries (Debian's
`prometheus` and `prometheus-alertmanager`) on free ports of 127.0.0.1, each in its
own temporary directory, and a TCP listener that accepts and never answers.

Prometheus gets its demo series from recording rules of its own (evaluated every
second from its start), not from scraping an exporter: its discovery manager hands
scrape targets over only after 5 s, so a scraped sample took 6 s to appear; a
recorded one is there within a second. The queries see the same series either way.

Every process started here is terminated by the fixture that started it (killed if
it does not stop), also when the test or the fixture's own start-up fails. A binary
that is missing skips its tests with the reason; a binary that is present but does
not start fails them, with the tail of its log.

Test modules import the fixtures they use: `from tests.promfixtures import ...`.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

PROMETHEUS = "prometheus"
ALERTMANAGER = "prometheus-alertmanager"
START_TIMEOUT = 20.0  # seconds for a binary to answer /-/ready
SCRAPE_TIMEOUT = 20.0  # seconds for Prometheus to have the demo series

DEMO_ERROR_RATIO = 0.25
DEMO_REQUESTS = {"200": 90.0, "500": 10.0}  # demo_requests_total{code=...}


PASSWORD = "hunter2-s3cret"  # put in URLs to check that no reason ever shows it


@pytest.fixture
async def client():
    async with httpx.AsyncClient(trust_env=False) as c:
        yield c


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary_or_skip(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"the {name!r} binary is not installed (Debian package {name}); CI installs it")
    return path


def sync_client() -> httpx.Client:
    # trust_env=False: a proxy from the environment must never see 127.0.0.1 traffic.
    return httpx.Client(trust_env=False, timeout=5)


@dataclass
class ServerProcess:
    """A binary we started, its base URL and its log."""

    name: str
    proc: subprocess.Popen
    port: int
    log_path: Path
    workdir: Path
    _log_file: object = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Terminate (then kill) the process and wait for it; safe to call twice."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()  # type: ignore[attr-defined]
            self._log_file = None


def _wait_ready(server: ServerProcess, deadline: float) -> str | None:
    """None when /-/ready answers 200; otherwise why not ("exited", "timeout")."""
    with sync_client() as client:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                return "exited"
            try:
                if client.get(server.url + "/-/ready", timeout=1).status_code == 200:
                    return None
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    return "timeout"


def start_server(name: str, workdir: Path, argv_for_port) -> ServerProcess:
    """Start `argv_for_port(port)` on a free port and wait until it is ready. A port
    taken meanwhile by someone else is retried on another port."""
    binary_or_skip(name)
    workdir.mkdir(parents=True, exist_ok=True)
    last = ""
    for attempt in range(3):
        port = free_port()
        log_path = workdir / f"{name}-{attempt}.log"
        log_file = open(log_path, "wb")
        proc = subprocess.Popen(
            argv_for_port(port), stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir
        )
        server = ServerProcess(name, proc, port, log_path, workdir, log_file)
        try:
            why = _wait_ready(server, time.monotonic() + START_TIMEOUT)
        except BaseException:
            server.stop()
            raise
        if why is None:
            return server
        server.stop()
        last = server.log_tail()
        if why == "exited" and "address already in use" in last.lower():
            continue
        break
    pytest.fail(f"{name} did not become ready on 127.0.0.1:\n{last}", pytrace=False)


# -- Prometheus ----------------------------------------------------------------


def _prometheus_argv(binary: str, config: Path, storage: Path):
    return lambda port: [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={storage}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=info",
    ]


# The demo series, as a scrape of an exporter would have them (job "demo"): a gauge
# demo_error_ratio = 0.25 and a counter demo_requests_total with two series.
DEMO_SERIES = [("demo_error_ratio", DEMO_ERROR_RATIO, {})] + [
    ("demo_requests_total", n, {"code": code}) for code, n in DEMO_REQUESTS.items()]


def start_prometheus(workdir: Path, recorded: list[tuple[str, float, dict[str, str]]]) -> ServerProcess:
    """A Prometheus whose recording rules write `recorded` (name, value, labels; job
    "demo") every second."""
    binary = binary_or_skip(PROMETHEUS)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    lines = ["global:", "  scrape_interval: 1s", "  evaluation_interval: 1s", "scrape_configs: []"]
    if recorded:
        rules = workdir / "demo.rules.yml"
        rule_lines = ["groups:", "  - name: demo", "    interval: 1s", "    rules:"]
        for name, value, labels in recorded:
            rule_lines += [f"      - record: {name}", f"        expr: vector({value!r})", "        labels:",
                           "          job: demo"] + [f'          {k}: "{v}"' for k, v in labels.items()]
        rules.write_text("\n".join(rule_lines) + "\n")
        lines += ["rule_files:", f"  - {rules}"]
    config.write_text("\n".join(lines) + "\n")
    return start_server(PROMETHEUS, workdir, _prometheus_argv(binary, config, workdir / "data"))


def wait_for_sample(server: ServerProcess, query: str, timeout: float = SCRAPE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    with sync_client() as client:
        while time.monotonic() < deadline:
            try:
                body = client.get(server.url + "/api/v1/query", params={"query": query}).json()
                if body.get("status") == "success" and body["data"]["result"]:
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.2)
    pytest.fail(f"Prometheus had no sample for {query!r} after {timeout:g}s:\n{server.log_tail()}", pytrace=False)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    """A real Prometheus that already has the demo series (DEMO_SERIES)."""
    binary_or_skip(PROMETHEUS)
    server = start_prometheus(tmp_path_factory.mktemp("prometheus"), DEMO_SERIES)
    try:
        wait_for_sample(server, "demo_error_ratio")
        wait_for_sample(server, 'demo_requests_total{code="500"}')
        yield server
    finally:
        server.stop()


@pytest.fixture
def stoppable_prometheus(tmp_path):
    """A real Prometheus of this test's own, which the test may stop."""
    binary_or_skip(PROMETHEUS)
    server = start_prometheus(tmp_path / "prometheus", [])
    try:
        yield server
    finally:
        server.stop()


# -- Alertmanager --------------------------------------------------------------

ALERTMANAGER_CONFIG = """\
route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: blackhole
"""


def start_alertmanager(workdir: Path) -> ServerProcess:
    binary = binary_or_skip(ALERTMANAGER)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "alertmanager.yml"
    config.write_text(ALERTMANAGER_CONFIG)
    storage = workdir / "data"
    storage.mkdir(exist_ok=True)
    return start_server(
        ALERTMANAGER,
        workdir,
        lambda port: [
            binary,
            f"--config.file={config}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=info",
        ],
    )


@pytest.fixture
def alertmanager(tmp_path):
    """A real Alertmanager of this test's own (fresh: no alerts, no silences)."""
    binary_or_skip(ALERTMANAGER)
    server = start_alertmanager(tmp_path / "alertmanager")
    try:
        yield server
    finally:
        server.stop()


# -- a server that never answers -------------------------------------------------


@dataclass
class SilentListener:
    port: int
    accepted: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def silent_listener():
    """A TCP listener on 127.0.0.1 that accepts connections, reads nothing back and
    never replies: the way a hung server looks to a client."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.1)
    listener = SilentListener(port=sock.getsockname()[1])
    stop = threading.Event()

    def accept_forever():
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            listener.accepted.append(conn)

    thread = threading.Thread(target=accept_forever, name="silent-listener", daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in listener.accepted:
            conn.close()
        sock.close()
