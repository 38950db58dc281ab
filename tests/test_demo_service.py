"""The demo's simulated service, over real sockets on 127.0.0.1."""
from __future__ import annotations

import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from console.demo.service import DEFAULT_COMPONENTS, SimulatedService


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
