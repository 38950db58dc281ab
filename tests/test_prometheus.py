"""`promql_value` against a real Prometheus (Debian's 2.42 binary) holding demo series
(written by its own recording rules: tests/promfixtures.py), and against the faults
a source can have: a bad query, a stopped server, a server that never answers, 5xx,
junk and huge bodies."""
from __future__ import annotations

import asyncio
import math
import time

import httpx
import pytest

from console.sources import SourceError
from console.sources._http import MAX_BODY_BYTES
from console.sources.prometheus import promql_value
from tests.promfixtures import (  # noqa: F401  (fixtures)
    DEMO_ERROR_RATIO,
    PASSWORD,
    client,
    prometheus,
    silent_listener,
    stoppable_prometheus,
    sync_client,
)


def with_password(url: str) -> str:
    return url.replace("http://", f"http://oncall:{PASSWORD}@", 1)


# -- the real server --------------------------------------------------------------


@pytest.mark.prometheus
class TestRealPrometheus:
    async def test_gauge_value(self, client, prometheus):
        assert await promql_value(client, prometheus.url, "demo_error_ratio", 5) == DEMO_ERROR_RATIO

    async def test_aggregations_and_label_matchers_are_one_number(self, client, prometheus):
        assert await promql_value(client, prometheus.url, "sum(demo_requests_total)", 5) == 100.0
        ratio = 'sum(demo_requests_total{code="500"}) / sum(demo_requests_total)'
        assert await promql_value(client, prometheus.url, ratio, 5) == pytest.approx(0.1)

    async def test_scalar_result(self, client, prometheus):
        assert await promql_value(client, prometheus.url, "scalar(demo_error_ratio) * 4", 5) == 1.0

    async def test_no_series_is_no_data(self, client, prometheus):
        assert await promql_value(client, prometheus.url, 'demo_error_ratio{job="no-such-job"}', 5) is None
        assert await promql_value(client, prometheus.url, "no_such_metric_anywhere", 5) is None

    async def test_nan_is_no_data_and_infinity_is_a_number(self, client, prometheus):
        assert await promql_value(client, prometheus.url, "0/0", 5) is None
        assert await promql_value(client, prometheus.url, "1/0", 5) == math.inf
        assert await promql_value(client, prometheus.url, "-1/0", 5) == -math.inf

    async def test_several_series_is_an_error_with_the_count(self, client, prometheus):
        with pytest.raises(SourceError) as e:
            await promql_value(client, prometheus.url, "demo_requests_total", 5)
        assert str(e.value) == "query returned 2 series; a gate needs one number"

    async def test_bad_query_surfaces_prometheus_own_error(self, client, prometheus):
        query = "sum(demo_error_ratio"
        with sync_client() as raw:
            answer = raw.get(prometheus.url + "/api/v1/query", params={"query": query})
        assert answer.status_code == 400
        prometheus_error = answer.json()["error"]
        with pytest.raises(SourceError) as e:
            await promql_value(client, prometheus.url, query, 5)
        assert str(e.value).startswith("prometheus: bad_data: ")
        assert prometheus_error in str(e.value)
        assert "parse error" in str(e.value)

    async def test_execution_error_is_named(self, client, prometheus):
        # Many-to-many matching fails when the query runs, not when it parses (422).
        with pytest.raises(SourceError) as e:
            await promql_value(client, prometheus.url, "demo_requests_total + on() demo_requests_total", 5)
        assert str(e.value).startswith("prometheus: execution: ")

    async def test_range_vector_and_string_are_not_one_number(self, client, prometheus):
        with pytest.raises(SourceError, match="range vector; a gate needs one number"):
            await promql_value(client, prometheus.url, "demo_error_ratio[1m]", 5)
        with pytest.raises(SourceError, match="string; a gate needs one number"):
            await promql_value(client, prometheus.url, '"hello"', 5)

    async def test_base_url_with_trailing_slash_and_credentials(self, client, prometheus):
        url = with_password(prometheus.url) + "/"
        assert await promql_value(client, url, "demo_error_ratio", 5) == DEMO_ERROR_RATIO

    async def test_stopped_server_is_connection_refused(self, client, stoppable_prometheus):
        url = stoppable_prometheus.url
        assert await promql_value(client, url, "vector(1)", 5) == 1.0
        stoppable_prometheus.stop()
        assert stoppable_prometheus.proc.returncode is not None
        for base in (url, with_password(url)):
            with pytest.raises(SourceError) as e:
                await promql_value(client, base, "vector(1)", 5)
            assert str(e.value) == "connection refused"
            assert PASSWORD not in str(e.value)


# -- faults that need no Prometheus -------------------------------------------------


async def test_server_that_never_answers_times_out(client, silent_listener):
    timeout = 0.5
    started = time.monotonic()
    with pytest.raises(SourceError) as e:
        await promql_value(client, with_password(silent_listener.url), "up", timeout)
    elapsed = time.monotonic() - started
    assert str(e.value) == "timeout after 500ms"
    assert timeout * 0.9 <= elapsed < timeout + 1.0
    assert silent_listener.accepted, "the request should have reached the listener"


def mock_client(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler), trust_env=False)


async def _value(handler, base_url="http://prom.test:9090", query="up", timeout=5.0):
    async with mock_client(handler) as c:
        return await promql_value(c, base_url, query, timeout)


async def test_query_is_sent_encoded_to_the_query_endpoint():
    seen = []

    def handler(request: httpx.Request):
        seen.append(request)
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "scalar", "result": [1, "3"]}})

    query = 'sum(rate(http_requests_total{code=~"5..", path="/a b&c"}[5m]))'
    assert await _value(handler, base_url="http://prom.test:9090/prefix/", query=query) == 3.0
    (req,) = seen
    assert req.method == "GET"
    assert req.url.path == "/prefix/api/v1/query"
    assert req.url.params["query"] == query


async def test_http_500_without_body():
    with pytest.raises(SourceError) as e:
        await _value(lambda r: httpx.Response(500, text="oops"))
    assert str(e.value) == "HTTP 500"


async def test_5xx_with_a_prometheus_error_keeps_status_and_text():
    body = {"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation"}
    with pytest.raises(SourceError) as e:
        await _value(lambda r: httpx.Response(503, json=body))
    assert str(e.value) == "HTTP 503: prometheus: timeout: query timed out in expression evaluation"


async def test_junk_body_is_invalid_response():
    with pytest.raises(SourceError) as e:
        await _value(lambda r: httpx.Response(200, text="<html>proxy login</html>"))
    assert str(e.value).startswith("invalid response: not JSON")


async def test_wrong_shape_is_invalid_response():
    with pytest.raises(SourceError, match="^invalid response: "):
        await _value(lambda r: httpx.Response(200, json={"status": "success", "data": {"resultType": "vector"}}))
    with pytest.raises(SourceError, match="^invalid response: "):
        await _value(lambda r: httpx.Response(200, json=[1, 2, 3]))


async def test_huge_body_is_refused():
    big = b"[" + b"0," * (MAX_BODY_BYTES // 2 + 10) + b"0]"
    with pytest.raises(SourceError, match="response too large"):
        await _value(lambda r: httpx.Response(200, content=big))

    async def stream():  # no Content-Length: the cap applies while reading
        chunk = b" " * 65536
        for _ in range(MAX_BODY_BYTES // len(chunk) + 2):
            yield chunk

    with pytest.raises(SourceError, match="response too large"):
        await _value(lambda r: httpx.Response(200, content=stream()))


async def test_slow_trickle_hits_the_overall_deadline():
    async def trickle():
        while True:
            await asyncio.sleep(0.05)
            yield b" "

    started = time.monotonic()
    with pytest.raises(SourceError) as e:
        await _value(lambda r: httpx.Response(200, content=trickle()), timeout=0.3)
    assert str(e.value) == "timeout after 300ms"
    assert time.monotonic() - started < 1.5


async def test_password_never_reaches_a_reason():
    url = f"http://oncall:{PASSWORD}@prom.test:9090"

    def refuse_loudly(request):
        raise httpx.ConnectError(f"could not reach {request.url}", request=request)

    with pytest.raises(SourceError) as e:
        await _value(refuse_loudly, base_url=url)
    assert PASSWORD not in str(e.value)
    assert str(e.value).startswith("cannot connect")

    def echo_url(request):
        return httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": f"bad {url}/x"})

    with pytest.raises(SourceError) as e:
        await _value(echo_url, base_url=url)
    assert PASSWORD not in str(e.value)
    assert str(e.value).startswith("prometheus: bad_data: bad http://prom.test")


async def test_no_url_configured():
    with pytest.raises(SourceError, match="no Prometheus URL"):
        await _value(lambda r: httpx.Response(200), base_url="")
