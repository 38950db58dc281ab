"""The demo's simulated service in a process of its own (console/demo/process.py):
a real child, real sockets on 127.0.0.1, the control pipe, and the child's end."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from console.demo.process import ServiceProcess, ServiceUnavailable
from console.demo.service import FAULT_KINDS, SimulatedService

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def child():
    svc = ServiceProcess(["api", "auth", "billing"], seed=11, background_error_rate=0.0).start(0)
    svc.wait_ready()
    yield svc
    svc.stop()


def status(url: str) -> int:
    return httpx.get(url, timeout=5).status_code


def refused(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) != 0


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def gone(pid: int) -> bool:
    """No such process, or a zombie (it has exited; its parent has not reaped it yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def test_the_child_serves_health_and_metrics_and_names_its_components(child):
    assert child.components == ("api", "auth", "billing")
    assert child.pid != os.getpid() and child.running
    r = httpx.get(child.health_url("auth"), timeout=5)
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "component": "auth", "version": "1.8.0"}
    assert status(child.health_url("nope")) == 404
    metrics = httpx.get(f"{child.url}/metrics", timeout=5).text
    assert 'demo_fault{kind="none"} 1.0' in metrics
    assert 'demo_http_requests_total{code="200",component="auth"} 1.0' in metrics


def test_inject_down_makes_the_next_probe_a_503_and_none_brings_200_back(child):
    assert status(child.health_url("api")) == 200
    child.inject("down")  # returns once the child applied it: the very next probe sees it
    r = httpx.get(child.health_url("api"), timeout=5)
    assert (r.status_code, r.json()["status"]) == (503, "down")
    assert child.fault == "down"
    assert 'demo_fault{kind="down"} 1.0' in httpx.get(f"{child.url}/metrics", timeout=5).text
    child.inject(None)
    assert status(child.health_url("api")) == 200
    assert child.fault is None


def test_an_outage_takes_down_the_component_asked_for_only(child):
    child.inject("outage", component="auth")
    assert child.outage_component == "auth"
    assert (status(child.health_url("auth")), status(child.health_url("api"))) == (503, 200)


def test_describe_and_bad_faults_are_as_in_process(child):
    here = SimulatedService(["api", "auth", "billing"])  # not started: describe and inject need no socket
    for kind in (None, *FAULT_KINDS, None):
        child.inject(kind)
        here.inject(kind)
        assert child.describe() == here.describe(), kind
    for bad, kw in (("meltdown", {}), ("errors", {"component": "api"}), ("outage", {"component": "db"})):
        with pytest.raises(ValueError) as in_child:
            child.inject(bad, **kw)
        with pytest.raises(ValueError) as in_process:
            here.inject(bad, **kw)
        assert str(in_child.value) == str(in_process.value)
    assert child.fault is None  # a refused fault changed nothing


def test_closing_its_stdin_ends_the_child_and_frees_the_port(child):
    port, proc = child.port, child._proc
    proc.stdin.close()  # what the kernel does when the console dies
    proc.wait(timeout=5)
    assert refused(port) and port_free(port)


def test_the_child_ends_when_the_console_is_killed_with_sigkill(tmp_path):
    """kill -9 gives the console no chance to stop anything: the pipe's end is the signal."""
    console = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from console.demo.process import ServiceProcess
        svc = ServiceProcess(["api"]).start(0)
        print(svc.pid, svc.port, flush=True)
        time.sleep(120)
    """)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        pid, port = map(int, console.stdout.readline().split())
        assert status(f"http://127.0.0.1:{port}/health/api") == 200
        console.send_signal(signal.SIGKILL)
        console.wait(timeout=5)
        wait_until(lambda: gone(pid), 5, "the child exits after the console's kill -9")
        assert refused(port)
    finally:
        console.kill()
        console.wait()


def test_stop_waits_for_the_child_and_frees_the_port(child):
    port, pid = child.port, child.pid
    t0 = time.monotonic()
    child.stop()
    assert time.monotonic() - t0 < 3
    assert gone(pid) and not child.running
    assert refused(port) and port_free(port)
    child.stop()  # twice: harmless
    with pytest.raises(ServiceUnavailable):
        child.inject("down")
    child.start(0)  # and started again: a new child, listening anew
    assert child.pid != pid and status(child.health_url("api")) == 200


def test_stop_kills_a_child_that_does_not_go():
    svc = ServiceProcess(["api"]).start(0)
    port, pid = svc.port, svc.pid
    os.kill(pid, signal.SIGSTOP)  # a hung child: it cannot read its stdin's end
    t0 = time.monotonic()
    svc.stop(timeout=0.5)
    assert time.monotonic() - t0 < 3
    assert gone(pid) and refused(port)


def test_a_second_demo_on_the_same_port_gets_another_free_one(child):
    second = ServiceProcess(["api"]).start(child.port)
    try:
        assert second.port != child.port
        assert status(second.health_url("api")) == 200
        second.inject("down")  # each its own service
        assert (status(second.health_url("api")), status(child.health_url("api"))) == (503, 200)
    finally:
        second.stop()


def test_a_free_port_asked_for_is_the_port_it_gets():
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        wanted = s.getsockname()[1]
    with ServiceProcess(["api"]).start(wanted) as svc:
        assert svc.port == wanted


def test_a_child_that_cannot_start_says_why():
    svc = ServiceProcess(["api"], outage_component="db").start(0)
    with pytest.raises(ServiceUnavailable, match="outage component 'db' is not one of api"):
        svc.wait_ready()
    assert not svc.running


def test_a_dead_child_is_said_not_raised_by_the_demo_keys(tmp_path):
    from datetime import datetime, timedelta, timezone

    from console.demo.controls import DemoControls

    svc = ServiceProcess(["api"], log=tmp_path / "demo.log").start(0)
    svc.wait_ready()
    os.kill(svc.pid, signal.SIGKILL)
    with pytest.raises(ServiceUnavailable, match="has gone"):
        svc.inject("down")
    controls = DemoControls(svc, url="postgresql://unused", components=["api"], flag="f", steps=[0, 100],
                            burn_in_start=datetime.now(timezone.utc), settle=timedelta(seconds=1))
    controls.inject("down")  # a key press: never a traceback in the console
    assert controls.describe().startswith("the simulated service is not running")
    svc.stop()


def test_the_child_writes_nothing_to_the_consoles_stdout_or_stderr(tmp_path):
    """The console's terminal is its stdout/stderr: the child's answers travel on a pipe
    of their own, and whatever it would print goes to the log (or nowhere)."""
    log = tmp_path / "demo.log"
    script = textwrap.dedent(f"""
        import httpx, socket
        from console.demo.process import ServiceProcess
        for where in ({str(log)!r}, None):
            svc = ServiceProcess(["api"], log=None if where is None else __import__("pathlib").Path(where)).start(0)
            for kind in ("errors", "latency", "outage", "down", None):
                svc.inject(kind)
                svc.describe()
            try:
                svc.inject("meltdown")
            except ValueError:
                pass
            svc._proc.stdin.write(b"not json\\n{{}}\\n")  # junk on the pipe: nothing to answer
            svc._proc.stdin.flush()
            assert svc.fault is None
            httpx.get(svc.health_url("api"))
            with socket.create_connection(("127.0.0.1", svc.port)) as s:  # a malformed request
                s.sendall(b"\\x00\\x01garbage\\r\\n\\r\\n")
                s.recv(1000)
            svc.stop()
        ServiceProcess(["api"], outage_component="db").start(0)._proc.wait(10)  # fails at start
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60, cwd=REPO)
    assert r.returncode == 0, r.stderr.decode()
    assert (r.stdout, r.stderr) == (b"", b"")


def test_the_child_keeps_its_answers_apart_from_what_it_prints(tmp_path):
    """A print in the child (a library's, say) goes to its log, never into the answers."""
    log = tmp_path / "demo.log"
    noisy = ("import sys, runpy, console.demo.service as s; said = s.SimulatedService.describe; "
             "s.SimulatedService.describe = lambda self: (print('stray line'), said(self))[1]; "
             "sys.argv = sys.argv[:1] + sys.argv[2:]; runpy.run_module('console.demo.process', run_name='__main__')")
    spec = json.dumps({"components": ["api"], "port": 0})
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", noisy, "-", spec], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, cwd=REPO)
    try:
        assert json.loads(proc.stdout.readline())["components"] == ["api"]
        proc.stdin.write(b'{"id": 7, "op": "describe"}\n')
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline())
        assert answer == {"id": 7, "ok": True, "result": "fault: none (service healthy: 40-120 ms, rare errors)"}
    finally:
        proc.stdin.close()
        proc.wait(10)
    assert proc.returncode == 0
    assert proc.stdout.read() == b""
    assert "stray line" in log.read_text()


async def test_the_demo_keys_reach_the_child_and_its_probes_see_the_fault(db_url, tmp_path):
    """The console's `x` goes down the pipe: the child's fault, the toast, and the probes' 503."""
    from datetime import datetime, timedelta, timezone

    from console.app import make_app
    from console.demo.controls import DemoControls
    from widgets.verdict_banner import VerdictBanner

    from .conftest import quick_config, wait_for

    svc = ServiceProcess(["api"], background_error_rate=0.0).start(0)
    try:
        config = quick_config(db_url, svc.url, targets=("api",))
        controls = DemoControls(svc, url=db_url, components=["api"], flag=config.rollout.flag,
                                steps=list(config.rollout.steps), burn_in_start=datetime.now(timezone.utc),
                                settle=timedelta(seconds=2), config=config)
        app = make_app(config, demo=controls)

        def checks_passing():
            gates = {g.name: g for g in app.snapshot.gates} if app.snapshot else {}
            return gates["checks_passing"].value if "checks_passing" in gates else None

        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: checks_passing() == 100, what="the child's api healthy")
            await pilot.press("x")
            assert svc.fault == "down"  # applied by the time the key's action returned
            await wait_for(pilot, lambda: any("all down" in n.message for n in app._notifications),
                           what="the fault said")
            await wait_for(pilot, lambda: checks_passing() == 0, what="the probes see the 503")
            await wait_for(pilot, lambda: "ROLLBACK" in app.screen.query_one(VerdictBanner).render_text().plain,
                           what="the banner says ROLLBACK")
    finally:
        svc.stop()
    with psycopg.connect(db_url) as conn:  # the probes written as the child answered them
        codes = {r[0] for r in conn.execute("select status from gonogo.probe_results where target = 'api'")}
    assert {200, 503} <= codes
