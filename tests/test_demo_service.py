"""The demo's simulated service, over real sockets on 127.0.0.1."""
from __future__ import annotations

import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from console.demo.service import DEFAULT_COMPONENTS, SimulatedService

# Tests that bound a latency or a time against the wall clock run alone, after the
# parallel pass (scripts/test): a busy neighbour must not fail them. The rest judge
# status codes, bodies, counts and the console's state, and run in the parallel pass.
timed_alone = pytest.mark.serial


@pytest.fixture
def service():
    svc = SimulatedService(seed=1234)
    svc.start()
    yield svc
    svc.stop()


def _get(url: str, timeout: float = 5.0) -> tuple[int, float, httpx.Response]:
    t0 = time.perf_counter()
    r = httpx.get(url, timeout=timeout)
    return r.status_code, time.perf_counter() - t0, r


def _many(url: str, n: int, workers: int = 40) -> list[int]:
    """n concurrent GETs; their status codes."""
    limits = httpx.Limits(max_connections=workers)
    with httpx.Client(timeout=5.0, limits=limits) as client, ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda _: client.get(url).status_code, range(n)))


def _requests_total(base: str) -> dict[tuple[str, str], float]:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    out = {}
    for fam in text_string_to_metric_families(text):
        if fam.name == "demo_http_requests":
            for s in fam.samples:
                if s.name == "demo_http_requests_total":
                    out[(s.labels["component"], s.labels["code"])] = s.value
    return out


@timed_alone
def test_health_answers_ok_json_with_realistic_latency(service):
    latencies = []
    for comp in DEFAULT_COMPONENTS * 2:
        status, took, r = _get(service.health_url(comp))
        assert status == 200
        assert r.headers["content-type"] == "application/json"
        assert r.json() == {"status": "ok", "component": comp, "version": service.version}
        latencies.append(took)
    # 40-120 ms of noise, a rare ~250 ms tail: never past ~300 ms, and not instant either.
    assert max(latencies) < 0.35, latencies
    assert 0.03 < statistics.median(latencies) < 0.2, latencies


def test_unknown_component_and_path_are_404(service):
    assert _get(f"{service.url}/health/payments")[0] == 404
    assert _get(f"{service.url}/nope")[0] == 404
    status, _, r = _get(f"{service.url}/")
    assert status == 200 and r.headers["content-type"].startswith("text/plain")
    assert "/health/" in r.text and "/metrics" in r.text


def test_metrics_are_prometheus_text_and_the_counter_grows(service):
    text = httpx.get(f"{service.url}/metrics", timeout=5).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["demo_http_requests"].type == "counter"
    assert families["demo_http_request_duration_seconds"].type == "histogram"
    assert families["demo_fault"].type == "gauge"
    before = _requests_total(service.url).get(("api", "200"), 0.0)
    codes = _many(service.health_url("api"), 6)
    after = _requests_total(service.url)
    assert after[("api", "200")] - before == codes.count(200) >= 5
    assert _requests_total(service.url).get(("unknown", "404"), 0) == 0
    _get(f"{service.url}/health/payments")
    assert _requests_total(service.url)[("unknown", "404")] == 1


def test_fault_gauge_follows_injection(service):
    def fault_gauge():
        text = httpx.get(f"{service.url}/metrics", timeout=5).text
        fam = next(f for f in text_string_to_metric_families(text) if f.name == "demo_fault")
        return {s.labels["kind"]: s.value for s in fam.samples}

    assert fault_gauge() == {"none": 1, "errors": 0, "latency": 0, "outage": 0, "down": 0}
    service.inject("outage")
    g = fault_gauge()
    assert g["outage"] == 1 and sum(g.values()) == 1


def test_error_fault_gives_some_503_and_clearing_it_restores_200(service):
    service.inject("errors")
    assert service.fault == "errors"
    assert "503" in service.describe()
    codes = _many(service.health_url("api"), 200)
    errors = codes.count(503)
    assert 2 <= errors <= 30, errors  # ~5 % of 200 = 10
    assert set(codes) <= {200, 503, 500}
    service.inject(None)
    assert service.fault is None
    codes = _many(service.health_url("api"), 200)
    assert codes.count(200) >= 199, codes  # the background error rate is 0.02 %


def test_error_count_is_reproducible_with_a_seed():
    counts = []
    for _ in range(2):
        with SimulatedService(seed=99) as svc:
            svc.inject("errors")
            counts.append(_many(svc.health_url("auth"), 120).count(503))
    assert counts[0] == counts[1] > 0


def test_error_body_is_json_status_error(service):
    service.inject("errors")
    with httpx.Client(timeout=5) as client:
        for _ in range(300):
            r = client.get(service.health_url("search"))
            if r.status_code == 503:
                assert r.json()["status"] == "error"
                return
    pytest.fail("no 503 in 300 requests under the errors fault")


@timed_alone
def test_latency_fault_makes_responses_slow(service):
    service.inject("latency")
    assert "550-900 ms" in service.describe()
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda c: _get(service.health_url(c)), DEFAULT_COMPONENTS))
    for status, took, _ in results:
        assert status == 200
        assert 0.5 < took < 1.5, took
    service.inject(None)
    assert _get(service.health_url("api"))[1] < 0.35


def test_outage_takes_down_billing_only(service):
    service.inject("outage")
    assert "billing" in service.describe()
    status, _, r = _get(service.health_url("billing"))
    assert status == 503 and r.json()["status"] == "down"
    for comp in ("api", "auth", "search", "worker"):
        assert _get(service.health_url(comp))[0] == 200
    service.inject("outage", component="search")
    assert _get(service.health_url("search"))[0] == 503
    assert _get(service.health_url("billing"))[0] == 200


def test_down_fault_makes_every_health_check_503(service):
    service.inject("down")
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda c: _get(service.health_url(c)), DEFAULT_COMPONENTS))
    assert [s for s, _, _ in results] == [503] * 5
    assert _get(f"{service.url}/health")[0] == 503
    assert _get(f"{service.url}/metrics")[0] == 200  # the metrics endpoint still answers
    service.inject(None)
    assert _get(service.health_url("worker"))[0] == 200


def test_inject_rejects_unknown_faults(service):
    with pytest.raises(ValueError, match="unknown fault"):
        service.inject("meteor")
    with pytest.raises(ValueError, match="unknown component"):
        service.inject("outage", component="payments")
    assert service.fault is None
    assert service.describe().startswith("fault: none")


@timed_alone
def test_stop_frees_the_port_promptly_even_with_a_request_in_flight():
    svc = SimulatedService(seed=5)
    port = svc.start()
    svc.inject("latency")

    def in_flight():
        try:
            httpx.get(svc.health_url("api"), timeout=3)
        except httpx.HTTPError:  # under load it may not have been accepted before stop(): fine
            pass

    t = threading.Thread(target=in_flight, daemon=True)
    t.start()
    time.sleep(0.1)  # the request is now sleeping in its handler
    t0 = time.perf_counter()
    svc.stop()
    assert time.perf_counter() - t0 < 0.5
    assert not svc.running
    svc.stop()  # twice is harmless
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health/api", timeout=2)
    again = SimulatedService()
    assert again.start(port) == port  # the port is free to bind again
    try:
        assert _get(again.health_url("api"))[0] == 200
    finally:
        again.stop()
    t.join(timeout=3)


def test_two_services_on_port_zero_get_different_ports():
    a, b = SimulatedService(), SimulatedService()
    try:
        pa, pb = a.start(), b.start()
        assert pa != pb and pa > 0 and pb > 0
    finally:
        a.stop()
        b.stop()


def test_custom_components_and_quiet_server(capfd):
    with SimulatedService(components=["web", "db"]) as svc:
        assert _get(svc.health_url("web"))[0] == 200
        assert _get(f"{svc.url}/health/api")[0] == 404
        svc.inject("outage")  # no billing: the last component is the victim
        assert _get(svc.health_url("db"))[0] == 503
        # a client that hangs up mid-request must not print a traceback either
        with socket.create_connection(("127.0.0.1", svc.port)) as s:
            s.sendall(b"GET /health/web HTTP/1.0\r\n\r\n")
        time.sleep(0.3)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# -- `n` in the console: back to a clean week -------------------------------------


def _demo_config(db_url: str, port: int):
    """The repository's demo config (config.toml) on a test database, every schedule
    scaled down: probes every 250 ms, the SQL gates and the alert rules every second."""
    import tomllib
    from pathlib import Path

    from console.config import parse_config

    raw = tomllib.loads((Path(__file__).resolve().parents[1] / "config.toml").read_text())
    raw["database"]["url"] = db_url
    raw["console"]["operator"] = "tester"
    for t in raw["targets"]:
        t.update(url=t["url"].replace("127.0.0.1:8080", f"127.0.0.1:{port}"), interval="250ms", timeout="1s")
    for g in raw["gates"]:
        if g["source"] == "sql":
            g["interval"] = "1s"
    raw["alerts"]["interval"] = "1s"
    return parse_config(raw)


async def test_n_in_the_demo_clears_the_fault_and_the_gates_come_back_to_go(db_url):
    """`x` takes every component down: the gates go red, and the failed probes would keep
    the 7-day uptime red for a week. `n` clears the fault and seeds a clean week again:
    GO within seconds, no probe of the fault left in the week, the canary back at its step."""
    import asyncio

    import psycopg

    from checks.models import Verdict
    from console.app import make_app
    from console.demo.controls import DemoControls
    from console.demo.run import _demo_config as pointed_at_demo, _settle
    from console.demo.seed import seed
    from console.store.db import Store
    from console.store.sandbox import grant_reader

    from .conftest import wait_for

    svc = SimulatedService(seed=7, background_error_rate=0.0)
    port = svc.start()
    try:
        config = _demo_config(db_url, port)
        components = [t.name for t in config.targets]
        store = Store(db_url)
        await store.open()
        await store.migrate()
        await store.close()
        start = await seed(db_url, components, config.rollout.flag, config.rollout.steps, reset=True, config=config)
        await asyncio.to_thread(grant_reader, db_url)
        controls = DemoControls(svc, url=db_url, components=components, flag=config.rollout.flag,
                                steps=list(config.rollout.steps), burn_in_start=start, settle=_settle(config),
                                config=config)
        app = make_app(pointed_at_demo(config, url=db_url, start=start, port=port), demo=controls)

        def gate(name: str):
            return next((g for g in app.snapshot.gates if g.name == name), None) if app.snapshot else None

        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.verdict is Verdict.GO,
                           timeout=30, what="GO on the seeded week")
            await pilot.press("x")
            await wait_for(pilot, lambda: app.snapshot.verdict is Verdict.ROLLBACK
                           and gate("uptime").band.value != "green", what="the week spoiled by the fault")
            await pilot.press("n")
            await wait_for(pilot, lambda: svc.fault is None, what="the fault cleared")
            await wait_for(pilot, lambda: app.snapshot.verdict is Verdict.GO, timeout=30, what="GO again after n")
            assert gate("uptime").band.value == "green" and gate("error_rate").value == 0
            # (wait_for_complete([]) would wait for the engine, which runs until the app ends)
            await wait_for(pilot, lambda: all(w.is_finished for w in app.workers if w.group == "demo"), what="n done")

            def open_critical() -> int:
                with psycopg.connect(db_url) as c:
                    return c.execute("select count(*) from gonogo.alerts where resolved_at is null"
                                     " and severity = 'critical'").fetchone()[0]

            # The alerts cleared: within an alert-rules pass ([alerts] interval, 1 s here), as
            # a pass that began before the reseed may still write what the fault's snapshot said.
            await wait_for(pilot, lambda: open_critical() == 0, timeout=10, what="no critical alert open after n")
        with psycopg.connect(db_url) as c:
            # Only the seeded week's own blip (4 probes of one target on day one) failed:
            # every probe of the fault went with the spoiled week.
            assert c.execute("select count(*) from gonogo.probe_results where not ok").fetchone()[0] == 4
            assert c.execute("select percentage, state from gonogo.rollout_state").fetchone() == (10, "soaking")
            # The week's recorded evaluations were written again with it: the seeded blip's
            # red (its hour, on day one), and not the fault's, recorded every second while it
            # lasted (one evaluation in flight when `n` began may still land after).
            red = dict(c.execute("select date_bin('1 hour', at, timestamptz 'epoch') = %s, count(*)"
                                 " from gonogo.gate_evaluations where gate = 'error_rate' and band = 'red' group by 1",
                                 (start + timedelta(hours=9),)).fetchall())
            assert red[True] >= 1 and red.get(False, 0) <= 1, red
            assert c.execute("select count(*) from gonogo.gate_evaluations where gate = 'uptime'").fetchone()[0] > 2000
    finally:
        svc.stop()
