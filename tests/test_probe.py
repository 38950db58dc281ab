"""console.probe against real sockets on 127.0.0.1: every fault an endpoint can show
is a failed check with a short reason, and no probe outlives its timeout."""
from __future__ import annotations

import asyncio
import shutil
import socket
import time
from datetime import datetime, timedelta, timezone

import pytest

from console import __version__
from console.config import Target
from console.probe import ProbeClient, make_client, make_http_client, probe

from .fastserver import FastServer, spawn
from .httpfaults import (
    HUGE_BYTES,
    FaultServer,
    closing_port,
    full_backlog_port,
    refused_port,
    resetting_port,
    self_signed_context,
)

pytestmark = pytest.mark.timeout(30)
# Tests that bound a time or a latency against the wall clock run alone, after the
# parallel pass (scripts/test): a busy neighbour must not fail them. The rest judge
# what a probe says, not how long it took, and run in the parallel pass.
timed_alone = pytest.mark.serial

TIMEOUT = 0.5  # seconds: the target timeout for the slow cases
MARGIN = 0.3  # seconds a probe may overrun its timeout (scheduling, closing)


@pytest.fixture(scope="module")
def server():
    with FaultServer() as srv:
        yield srv


@pytest.fixture
async def client():
    async with make_client() as c:
        yield c


@pytest.fixture
async def http_client():
    async with make_http_client() as c:
        yield c


def target(url: str, **kw) -> Target:
    return Target(name=kw.pop("name", "api"), url=url, **kw)


async def timed(client: ProbeClient, t: Target):
    start = time.perf_counter()
    result = await probe(client, t)
    return result, time.perf_counter() - start


async def wait_until(predicate, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the server"
        await asyncio.sleep(0.02)


# -- healthy ---------------------------------------------------------------------


@timed_alone
async def test_healthy_json(client, server):
    before = datetime.now(timezone.utc)
    r = await probe(client, target(server.url("/ok")))
    assert (r.target, r.ok, r.status, r.reason) == ("api", True, 200, "")
    assert r.latency_ms is not None and 0 < r.latency_ms < 1000
    assert r.at.tzinfo is not None and r.at.utcoffset() == timedelta(0)
    assert before <= r.at <= datetime.now(timezone.utc)


async def test_client_identifies_itself_and_asks_for_no_compression(client, server):
    r = await probe(client, target(server.url("/echo-auth")))
    assert r.ok
    sent = server.stats["/echo-auth"].headers
    assert sent["user-agent"] == f"gonogo/{__version__}"
    assert sent["accept-encoding"] == "identity"


async def test_now_is_recorded_as_given(client, server):
    fixed = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    r = await probe(client, target(server.url("/ok")), now=fixed)
    assert r.at == fixed
    r = await probe(client, target(server.url("/ok")), now=lambda: fixed)
    assert r.at == fixed


@pytest.mark.parametrize("reported", ["ok", "OK", "Healthy", "pass", "passing", "UP", "green"])
async def test_healthy_status_words_any_case(client, server, reported):
    r = await probe(client, target(server.url(f"/json?status={reported}")))
    assert (r.ok, r.status, r.reason) == (True, 200, "")


@pytest.mark.parametrize("path", ["/text", "/empty"])
async def test_plain_text_and_empty_bodies_are_fine(client, server, path):
    r = await probe(client, target(server.url(path)))
    assert (r.ok, r.status, r.reason) == (True, 200, "")
    assert r.latency_ms is not None and r.latency_ms > 0


async def test_many_targets_share_one_client(client, server):
    results = await asyncio.gather(*(probe(client, target(server.url("/ok"), name=f"t{i}")) for i in range(20)))
    assert [r.ok for r in results] == [True] * 20
    assert {r.target for r in results} == {f"t{i}" for i in range(20)}


# -- wrong answers -----------------------------------------------------------------


async def test_503(client, server):
    r = await probe(client, target(server.url("/status/503")))
    assert (r.ok, r.status, r.reason) == (False, 503, "HTTP 503")
    assert r.latency_ms is not None and r.latency_ms > 0


async def test_expected_status_is_configurable(client, server):
    r = await probe(client, target(server.url("/status/204"), expect_status=[200, 204]))
    assert (r.ok, r.status, r.reason) == (True, 204, "")
    # An expected status still has its body judged: this 503 says {"status": "error"}.
    r = await probe(client, target(server.url("/status/503"), expect_status=[200, 503]))
    assert (r.ok, r.status, r.reason) == (False, 503, "reported status 'error'")


async def test_redirect_is_not_followed(client, server):
    r = await probe(client, target(server.url("/redirect")))
    assert (r.ok, r.status, r.reason) == (False, 302, "HTTP 302")
    r = await probe(client, target(server.url("/redirect"), expect_status=[302]))
    assert (r.ok, r.status, r.reason) == (True, 302, "")


async def test_reported_degraded(client, server):
    r = await probe(client, target(server.url("/json?status=degraded")))
    assert (r.ok, r.status, r.reason) == (False, 200, "reported status 'degraded'")
    assert r.latency_ms is not None


async def test_json_content_type_with_junk_body(client, server):
    r = await probe(client, target(server.url("/junk-json")))
    assert (r.ok, r.status) == (False, 200)
    assert r.reason.startswith("invalid body: not JSON"), r.reason
    assert len(r.reason) <= 80
    assert r.latency_ms is not None


async def test_binary_body_is_not_text(client, server):
    r = await probe(client, target(server.url("/binary")))
    assert (r.ok, r.status, r.reason) == (False, 200, "invalid body: not text")


async def test_a_compressed_body_is_not_decompressed(client):
    """A server that compresses though identity was asked for: nothing is inflated
    (a small gzip body can expand far past max_body), the check fails saying why."""
    import gzip
    import json

    body = gzip.compress(json.dumps({"status": "ok"}).encode())

    async def answer(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        r = await probe(client, target(f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/health"))
    finally:
        srv.close()
    assert (r.ok, r.status, r.reason) == (False, 200, "invalid body: compressed (gzip) though none was asked for")


async def test_body_at_the_limit_is_fine_one_over_is_too_large(client, server):
    r = await probe(client, target(server.url("/text"), max_body=2))  # body is "OK"
    assert r.ok
    r = await probe(client, target(server.url("/text"), max_body=1))
    assert (r.ok, r.status, r.reason) == (False, 200, "body too large (> 1 bytes)")


@timed_alone
async def test_huge_streamed_body_is_cut_off(client, server):
    t = target(server.url("/huge"))  # 50 MB, chunked, no Content-Length
    r, took = await timed(client, t)
    assert (r.ok, r.status, r.reason) == (False, 200, "body too large (> 65536 bytes)")
    assert took < 1.0
    assert r.latency_ms is not None and r.latency_ms < 1000
    stats = server.stats["/huge"]
    await wait_until(lambda: stats.done)  # the server noticed the hang-up and gave up
    assert not stats.finished
    # What the server got out is what the client read plus the kernel's buffers on
    # both ends: a few hundred KiB at most, nowhere near 50 MB.
    assert stats.sent < t.max_body + 1024 * 1024, stats.sent
    assert stats.sent < HUGE_BYTES // 20


@timed_alone
async def test_huge_declared_length_is_refused_without_reading(client, server):
    r, took = await timed(client, target(server.url("/huge-declared")))
    assert (r.ok, r.status, r.reason) == (False, 200, "body too large (> 65536 bytes)")
    assert took < 1.0
    stats = server.stats["/huge-declared"]
    await wait_until(lambda: stats.done)
    assert not stats.finished and stats.sent < 1024 * 1024


# -- slow ------------------------------------------------------------------------


@timed_alone
async def test_slow_answer_times_out(client, server):
    r, took = await timed(client, target(server.url("/sleep?s=5"), timeout=timedelta(seconds=TIMEOUT)))
    assert (r.ok, r.status, r.reason) == (False, None, "timeout after 500ms")
    assert TIMEOUT <= took < TIMEOUT + MARGIN
    # A connection was made, so the time to the failure is recorded.
    assert r.latency_ms is not None and TIMEOUT * 1000 <= r.latency_ms < (TIMEOUT + MARGIN) * 1000


@timed_alone
async def test_whole_second_timeouts_read_as_seconds(client, server):
    r, took = await timed(client, target(server.url("/sleep?s=5"), timeout=timedelta(seconds=1)))
    assert (r.ok, r.reason) == (False, "timeout after 1s")
    assert took < 1 + MARGIN


@timed_alone
async def test_slow_drip_body_cannot_run_past_the_timeout(client, server):
    # Headers at once, then a byte every 0.1 s: every read is quick, so only the
    # overall deadline stops it.
    r, took = await timed(client, target(server.url("/drip?s=5"), timeout=timedelta(seconds=TIMEOUT)))
    assert (r.ok, r.status, r.reason) == (False, 200, "timeout after 500ms")
    assert TIMEOUT <= took < TIMEOUT + MARGIN
    assert r.latency_ms is not None and r.latency_ms >= TIMEOUT * 1000
    assert server.stats["/drip"].sent >= 2  # it really was dripping


@timed_alone
async def test_connect_that_hangs_times_out_with_no_latency():
    with full_backlog_port() as port:
        async with make_client() as c:
            r, took = await timed(c, target(port.url(), timeout=timedelta(seconds=TIMEOUT)))
    assert (r.ok, r.status, r.reason) == (False, None, "timeout after 500ms")
    assert took < TIMEOUT + MARGIN
    assert r.latency_ms is None  # no connection was ever made


async def test_cancellation_propagates(client, server):
    task = asyncio.create_task(probe(client, target(server.url("/sleep?s=5"), timeout=timedelta(seconds=3))))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# -- below HTTP ------------------------------------------------------------------


@timed_alone
async def test_connection_refused(client):
    port = refused_port()
    r, took = await timed(client, target(f"http://127.0.0.1:{port}/health"))
    assert (r.ok, r.status, r.reason, r.latency_ms) == (False, None, "connection refused", None)
    assert took < 1.0


async def test_connection_reset(client):
    with resetting_port() as port:
        r = await probe(client, target(port.url()))
        assert port.accepted >= 1
    assert (r.ok, r.status, r.reason) == (False, None, "connection reset")
    assert r.latency_ms is not None  # it did connect


async def test_accept_and_close_immediately(client):
    with closing_port() as port:
        r = await probe(client, target(port.url()))
        assert port.accepted >= 1
    assert (r.ok, r.status) == (False, None)
    # Depending on who is first, the client sees the peer's RST or a clean EOF.
    assert r.reason in (
        "connection reset",
        "server disconnected without sending a response",
    ), r.reason
    assert r.latency_ms is not None


def _invalid_names_fail_fast() -> bool:
    start = time.monotonic()
    try:
        socket.getaddrinfo("gonogo-probe-test.invalid", 80)
    except socket.gaierror:
        return time.monotonic() - start < 1.0
    return False


@pytest.mark.skipif(not _invalid_names_fail_fast(), reason="this resolver does not answer .invalid quickly")
async def test_dns_name_not_found(client):
    r = await probe(client, target("http://gonogo-probe-test.invalid/health"))
    assert (r.ok, r.status, r.latency_ms) == (False, None, None)
    assert r.reason == "DNS: gonogo-probe-test.invalid not found"


async def test_tls_to_a_plain_http_port(client, server):
    r = await probe(client, target(f"https://127.0.0.1:{server.port}/ok"))
    assert (r.ok, r.status) == (False, None)
    assert r.reason.startswith("TLS: "), r.reason
    assert len(r.reason) <= 80 and "_ssl.c" not in r.reason


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_tls_self_signed_certificate_is_rejected(client, tmp_path):
    with FaultServer(ssl_context=self_signed_context(tmp_path)) as tls:
        r = await probe(client, target(tls.url("/ok")))
    assert (r.ok, r.status) == (False, None)
    assert r.reason.startswith("TLS: certificate verify failed"), r.reason
    assert "self-signed" in r.reason or "self signed" in r.reason
    assert r.latency_ms is not None  # TCP connected; the handshake failed


# -- secrets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_url, expected",
    [
        (lambda srv: f"http://bob:hunter2@127.0.0.1:{refused_port()}/health", "connection refused"),
        (lambda srv: srv.url("/status/503", userinfo="bob:hunter2"), "HTTP 503"),
        (lambda srv: srv.url("/sleep?s=5", userinfo="bob:hunter2"), "timeout after 500ms"),
        (lambda srv: srv.url("/junk-json", userinfo="bob:hunter2"), "invalid body: not JSON"),
        (lambda srv: f"https://bob:hunter2@127.0.0.1:{srv.port}/ok", "TLS: "),
    ],
)
async def test_password_in_url_never_in_reason(client, server, make_url, expected):
    r = await probe(client, target(make_url(server), timeout=timedelta(seconds=TIMEOUT)))
    assert not r.ok
    assert r.reason.startswith(expected), r.reason
    assert "hunter2" not in r.reason


async def test_password_echoed_by_the_endpoint_is_masked(client, server):
    # An endpoint that reports a bad status quoting a URL with credentials in it.
    url = server.url("/json?status=down%20http://admin:s3cret@db.internal/x")
    r = await probe(client, target(url))
    assert not r.ok
    assert "s3cret" not in r.reason
    assert r.reason == "reported status 'down http://db.internal/***'"


async def test_credentials_in_url_are_sent_as_basic_auth(client, server):
    r = await probe(client, target(server.url("/echo-auth", userinfo="bob:hunter2")))
    assert r.ok
    assert (server.stats["/echo-auth"].authorization or "").startswith("Basic ")


async def test_configured_headers_are_sent_over_the_defaults_and_never_in_a_reason(client, server):
    headers = {"Authorization": "Bearer pr0be-t0ken-s3cret", "X-Tenant": "blue"}
    r = await probe(client, target(server.url("/ok"), headers=headers))
    assert r.ok
    seen = server.stats["/ok"].headers
    assert seen["authorization"] == "Bearer pr0be-t0ken-s3cret" and seen["x-tenant"] == "blue"
    assert seen["accept-encoding"] == "identity"  # the client's defaults still apply
    r = await probe(client, target(server.url("/status/503"), headers=headers))
    assert r.reason == "HTTP 503" and server.stats["/status/503"].headers["x-tenant"] == "blue"


async def test_sources_send_their_configured_headers(http_client, server):
    """Prometheus and Alertmanager requests carry [prometheus] / [alertmanager]
    headers (a bearer token, a tenant): checked on a real server, which answers
    with something that is neither, so each call fails after the request."""
    from console.sources import SourceError
    from console.sources.alertmanager import fetch_alerts
    from console.sources.prometheus import promql_value

    client = http_client  # the sources' client (httpx), not the probes'
    with pytest.raises(SourceError):
        await promql_value(client, server.url(""), "up", 2.0, headers={"Authorization": "Bearer pr0m-s3cret"})
    seen = server.stats["/api/v1/query"].headers
    assert seen["authorization"] == "Bearer pr0m-s3cret" and seen["accept"] == "application/json"
    with pytest.raises(SourceError):
        await fetch_alerts(client, server.url(""), 2.0, headers={"X-Scope-OrgID": "am-t3nant", "Accept": "*/*"})
    seen = server.stats["/api/v2/alerts"].headers
    assert seen["x-scope-orgid"] == "am-t3nant" and seen["accept"] == "*/*"


async def test_credentials_in_url_win_over_a_configured_authorization(client, server):
    # As with httpx: the URL's userinfo is the Basic auth sent (aiohttp alone would
    # refuse the pair), and neither shows in a reason.
    url = server.url("/echo-auth", userinfo="bob:hunter2")
    r = await probe(client, target(url, headers={"Authorization": "Bearer t0ken-s3cret"}))
    assert r.ok, r.reason
    assert (server.stats["/echo-auth"].authorization or "").startswith("Basic ")


async def test_a_proxy_from_the_environment_is_used_unless_no_proxy(monkeypatch, server):
    # HTTP_PROXY names the fault server, which answers a proxied GET of /ok like any
    # other: a name that does not resolve is reached through it. NO_PROXY exempts a
    # host: a port with nothing behind it is refused, not answered by the proxy.
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with make_client() as c:
        proxied = await probe(c, target("http://gonogo-proxied.invalid/ok"))
        direct = await probe(c, target(f"http://127.0.0.1:{refused_port()}/ok", name="direct"))
    assert proxied.ok, proxied.reason
    assert (direct.ok, direct.reason) == (False, "connection refused")


def test_a_client_made_outside_an_event_loop_probes_inside_one(server):
    # The Engine makes its probe client at construction, sometimes before a loop runs;
    # the aiohttp sessions are made at the first probe, in the loop that runs it.
    c = make_client()

    async def go():
        try:
            return await probe(c, target(server.url("/ok")))
        finally:
            await c.aclose()

    r = asyncio.run(go())
    assert r.ok, r.reason


# -- connections: kept alive, renewed, never reused half-read ------------------------
#
# FastServer numbers its connections and logs (path, connection) per request, so a
# test sees which probe went on which connection. Every probe here uses one target
# name: a target's first probe opens a new connection (it has none yet), and the
# reuse that follows is what is under test.


@pytest.fixture
def fast():
    with FastServer() as srv:
        yield srv


def conns(srv: FastServer, path: str | None = None) -> list[int]:
    return [c for p, c in srv.requests if path is None or p == path]


async def test_probes_of_a_target_reuse_one_connection(client, fast):
    for _ in range(5):
        assert (await probe(client, target(fast.url("/ok")))).ok
    used = conns(fast)
    # The first probe opens a new connection on the pool that keeps none; from then on
    # one kept connection serves them all.
    assert len(set(used[1:])) == 1 and used[0] not in used[1:], used


@timed_alone
async def test_reconnect_every_bounds_reuse(client, fast):
    # reconnect_every no more than the interval: each probe (spaced as the schedule
    # spaces them, at least half an interval) opens a new connection.
    every_probe = target(fast.url("/ok"), name="always", interval=timedelta(seconds=0.2),
                         reconnect_every=timedelta(seconds=0.2))
    for _ in range(3):
        assert (await probe(client, every_probe)).ok
        await asyncio.sleep(0.1)
    assert len(set(conns(fast))) == 3

    fast.requests.clear()
    t = target(fast.url("/ok"), name="soon", interval=timedelta(seconds=1), reconnect_every=timedelta(seconds=1.5))
    for _ in range(3):  # new (no connection yet), new (none kept yet), reused
        assert (await probe(client, t)).ok
    await asyncio.sleep(1.1)  # 1.5 s less half an interval since the last new one
    assert (await probe(client, t)).ok
    used = conns(fast)
    assert used[2] == used[1] and used[3] not in used[:3], used


async def test_a_kept_connection_the_server_closed_while_idle_is_not_used(client):
    with FastServer(idle_close=0.2) as srv:
        r1 = await probe(client, target(srv.url("/ok")))
        r2 = await probe(client, target(srv.url("/ok")))
        await wait_until(lambda: conns(srv)[-1] in srv.closed)  # the server hung up the kept one
        r3 = await probe(client, target(srv.url("/ok")))
    assert (r1.ok, r2.ok, r3.ok) == (True, True, True), r3.reason
    used = conns(srv)
    assert len(used) == 3 and used[2] not in used[:2]


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
@timed_alone
async def test_a_request_lost_on_a_reused_connection_is_sent_again_on_a_new_one(client, fast, reset):
    """The server closes a kept connection just as a probe's request arrives on it (it
    reads the request, then closes, or resets): the probe is still ok, the request
    having gone again on a new connection."""
    t = target(fast.url("/ok"))
    await probe(client, t)
    await probe(client, t)
    kept = conns(fast)[-1]
    fast.reset = reset
    fast.drop_reused = 1
    r = await probe(client, t)
    assert (r.ok, r.status, r.reason) == (True, 200, ""), r.reason
    assert fast.drop_reused == 0  # the request really was dropped
    lost, again = conns(fast)[-2:]
    assert lost == kept and again != kept
    assert r.latency_ms is not None and r.latency_ms < 1000


async def test_a_failure_on_a_new_connection_is_not_sent_again(client):
    with closing_port() as port:
        r = await probe(client, target(port.url()))
        accepted = port.accepted
    assert not r.ok and accepted == 1


@pytest.mark.parametrize(
    "path, kw, reason",
    [
        ("/big?n=100000", {"max_body": 1000}, "body too large (> 1000 bytes)"),
        ("/stall", {"timeout": timedelta(seconds=TIMEOUT)}, "timeout after 500ms"),
    ],
    ids=["too-large", "timeout-mid-body"],
)
async def test_a_connection_left_mid_body_is_never_reused(client, fast, path, kw, reason):
    await probe(client, target(fast.url("/ok"), **kw))
    await probe(client, target(fast.url("/ok"), **kw))
    kept = conns(fast)[-1]
    cut = await probe(client, target(fast.url(path), **kw))
    assert (cut.ok, cut.reason) == (False, reason)
    assert conns(fast, path.split("?")[0]) == [kept]  # it did go on the kept connection ...
    after = await probe(client, target(fast.url("/ok"), **kw))
    assert after.ok
    assert conns(fast)[-1] != kept  # ... and the next probe did not
    await wait_until(lambda: kept in fast.closed)


async def test_a_wrong_status_leaves_no_half_read_connection(client, server):
    # 503 with a body the probe does not read: the connection is closed, and the next
    # probe on the same origin is fine.
    for path in ("/ok", "/status/503", "/ok", "/status/503", "/ok"):
        r = await probe(client, target(server.url(path)))
        assert r.ok == (path == "/ok"), (path, r.reason)


# -- latency is the service's, not gonogo's queueing --------------------------------


@timed_alone
async def test_wait_for_a_pooled_connection_is_not_latency(server):
    """One connection in the pool, held 0.5 s by another request: the second probe
    waits for it, then is answered at once. Its latency is the answer's, not the wait
    (which does not eat into its timeout either). (A target's first probe opens a new
    connection, on the `fresh` pool: that is the one limited to one here.)"""
    async with ProbeClient(per_origin=1, new_connections=1) as one:
        held = server.stats["/sleep"].hits + 1
        hold = asyncio.create_task(probe(one, target(server.url("/sleep?s=0.5"), name="hold")))
        await wait_until(lambda: server.stats["/sleep"].hits == held)
        start = time.perf_counter()
        r = await probe(one, target(server.url("/ok"), timeout=timedelta(seconds=1)))
        waited = time.perf_counter() - start
        assert (await hold).ok
    assert r.ok, r.reason
    assert waited >= 0.4  # it did queue ...
    assert r.latency_ms is not None and r.latency_ms < 100  # ... and that is not latency


@timed_alone
async def test_timeout_runs_from_the_request_not_from_the_queue(server):
    """Queued 0.5 s for the pool, then a server that answers in 0.3 s: with a 0.6 s
    timeout the probe passes (0.3 s of service time), though 0.8 s went by."""
    async with ProbeClient(per_origin=1, new_connections=1) as one:
        held = server.stats["/sleep"].hits + 1
        hold = asyncio.create_task(probe(one, target(server.url("/sleep?s=0.5"), name="hold")))
        await wait_until(lambda: server.stats["/sleep"].hits == held)
        start = time.perf_counter()
        r = await probe(one, target(server.url("/sleep?s=0.3"), timeout=timedelta(seconds=0.6)))
        took = time.perf_counter() - start
        assert (await hold).ok
    assert r.ok, r.reason
    assert took > 0.6 and 300 <= r.latency_ms < 600


@timed_alone
async def test_hundred_targets_at_one_second_read_the_service_latency():
    """100 targets at 1 s through the engine's own probe loops against a server
    answering in ~1 ms (in its own process): the recorded p95 is the service's, not
    gonogo's queueing (all-at-once probing read 150-190 ms here)."""
    from types import SimpleNamespace

    from console.engine import Engine

    from .conftest import make_config

    with spawn(delay=0.001) as base:
        config = make_config("postgresql://nobody@127.0.0.1:1/none", base,
                             targets=[f"t{i:03d}" for i in range(100)], interval="1s")
        # Only the probe loops run: they use neither the store nor the controller.
        engine = Engine(config, SimpleNamespace(supervisor=None), lead=False, controller=SimpleNamespace())
        engine.leader = True
        loops = [asyncio.create_task(engine._probe_loop(t)) for t in config.targets]
        try:
            await asyncio.sleep(4.6)
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await engine.aclose()
    results = list(engine._buffer)
    assert len(results) >= 300 and all(r.ok for r in results), [r.reason for r in results if not r.ok][:3]
    latencies = sorted(r.latency_ms for r in results)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    assert p95 < 10, f"p95 {p95:.1f} ms"
    by_target: dict[str, list[datetime]] = {}
    for r in results:
        by_target.setdefault(r.target, []).append(r.at)
    for ats in by_target.values():  # one probe per target per interval, (target, at) unique
        assert all(0.5 <= (b - a).total_seconds() <= 1.5 for a, b in zip(ats, ats[1:])), ats
