"""The HTTP clients: the health probes' (aiohttp: two sessions, kept-alive and new
connections, and the timing of each request from the moment it leaves) and the
PromQL / Alertmanager sources' (httpx). `console.probe` makes one probe with the
first; `console.sources` send their requests with the second.

Why probes go through aiohttp and the sources through httpx, and how kept-alive
connections are kept honest: make_client.
"""
from __future__ import annotations

import asyncio
import base64
import ssl
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import httpx
from yarl import URL

from . import __version__
from .config import Target
from .errors import causes

USER_AGENT = f"gonogo/{__version__}"

DEFAULT_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "application/json, text/plain;q=0.9, */*;q=0.5",
    # The byte cap applies to what arrives; a compressed body could expand far beyond
    # it in one chunk, so ask for none (and probes decompress nothing anyway).
    "Accept-Encoding": "identity",
    "Cache-Control": "no-cache",
}

# The probe pools (make_client).
PER_ORIGIN_CONNECTIONS = 32  # in flight to one origin (one probe per target at a time)
NEW_CONNECTIONS = 64  # in flight on `fresh`, which keeps none
# An idle kept connection older than this is closed rather than reused: under the idle
# timeouts of load balancers and NAT (60 s and more), which may drop a connection
# without a word, so a kept connection is never a black hole a probe times out in.
KEEPALIVE_EXPIRY = 30.0
# A response's status line and each header line may be this long: h11 (httpx, the
# earlier probe client) took a whole response head of 16 KiB, aiohttp's own default
# is 8 KiB a line.
MAX_HEAD_LINE = 16 * 1024
# The PromQL / Alertmanager client (make_http_client).
HTTP_CONNECTIONS = 100
HTTP_KEPT = 4


@dataclass(frozen=True, slots=True)
class _Request:
    """What a probe of one URL sends, worked out once per URL: the URL less its
    userinfo, the headers to add to the session's (the target's, and a Basic
    Authorization from the userinfo, which wins over a configured one as it did with
    httpx), and the proxy the environment names for it (HTTP(S)_PROXY / NO_PROXY)."""

    url: URL
    headers: dict[str, str] | None
    proxy: str | None


class ProbeClient:
    """The client make_client returns: two aiohttp sessions, made at first use (an
    aiohttp session belongs to the event loop it was made in, and an Engine can be
    made before a loop runs), and the time each target's probe last opened a new
    connection (`new_connection_at`, see console.probe.probe()).

    `kept` keeps connections alive (at most `per_origin` in flight to one origin, an
    idle one closed after KEEPALIVE_EXPIRY); `fresh` keeps none (at most
    `new_connections` in flight), for a probe that must open a new connection."""

    def __init__(self, *, per_origin: int = PER_ORIGIN_CONNECTIONS, new_connections: int = NEW_CONNECTIONS,
                 keepalive_expiry: float = KEEPALIVE_EXPIRY) -> None:
        self._per_origin = per_origin
        self._new_connections = new_connections
        self._keepalive_expiry = keepalive_expiry
        self._loop: asyncio.AbstractEventLoop | None = None
        self._kept: aiohttp.ClientSession | None = None
        self._fresh: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None
        self._requests: dict[tuple[str, tuple[tuple[str, str], ...]], _Request] = {}
        self.closed = False
        self.new_connection_at: dict[str, float] = {}  # target name -> event loop time

    @property
    def kept(self) -> aiohttp.ClientSession:
        self._sessions()
        return self._kept

    @property
    def fresh(self) -> aiohttp.ClientSession:
        self._sessions()
        return self._fresh

    def _sessions(self) -> None:
        if self.closed:
            raise RuntimeError("the probe client is closed")
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        # First use, or another event loop than the last one (whose sessions cannot
        # be used, nor closed, from this one): new sessions.
        if self._ssl is None:
            # One TLS context (the CA bundle loaded once) for both sessions, the very
            # one httpx makes: certifi's bundle, or $SSL_CERT_FILE / $SSL_CERT_DIR.
            self._ssl = httpx.create_ssl_context()
        self._kept = self._session(aiohttp.TCPConnector(
            ssl=self._ssl, limit=0, limit_per_host=self._per_origin,
            keepalive_timeout=self._keepalive_expiry, use_dns_cache=False,
        ))
        self._fresh = self._session(aiohttp.TCPConnector(
            ssl=self._ssl, limit=self._new_connections, force_close=True, use_dns_cache=False,
        ))
        self._loop = loop

    @staticmethod
    def _session(connector: aiohttp.BaseConnector) -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(
            connector=connector,
            headers=DEFAULT_HEADERS,
            # No limit of aiohttp's own: probe() bounds each probe with the target's
            # timeout, from the moment the request leaves.
            timeout=aiohttp.ClientTimeout(total=None, connect=None, sock_read=None, sock_connect=None),
            auto_decompress=False,  # the byte cap is on what arrives
            cookie_jar=aiohttp.DummyCookieJar(),  # a probe carries nothing from the last one
            trace_configs=[_TRACE],
            max_line_size=MAX_HEAD_LINE,
            max_field_size=MAX_HEAD_LINE,
        )
        # aiohttp sends an idempotent request again, once, when its connection fails
        # before an answer, whether that connection was reused or new, and on whatever
        # connection the pool gives next. probe() decides that itself
        # (retry_on_new_connection); this is the switch aiohttp's own test client uses.
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        return session

    def request_for(self, target: Target) -> _Request:
        key = (target.url, tuple(target.headers.items()))
        request = self._requests.get(key)
        if request is None:
            if len(self._requests) > 4096:  # targets are few; a client used for ever-new URLs stays bounded
                self._requests.clear()
            request = self._requests[key] = _make_request(target)
        return request

    async def aclose(self) -> None:
        self.closed = True
        sessions = [s for s in (self._kept, self._fresh) if s is not None]
        self._kept = self._fresh = None
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            return  # made in another loop: nothing of theirs can be awaited here
        for session in sessions:
            await session.close()

    async def __aenter__(self) -> "ProbeClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


def make_client() -> ProbeClient:
    """The client every target's probes share (probe() takes it).

    Probes go through aiohttp, the PromQL and Alertmanager requests through httpx
    (make_http_client). In the probes' pattern (every target at its own point of the
    second, so nearly every request alone on the loop) httpx's own cost was 0.62-0.87
    ms of CPU per request on the 2-core reference machine, most of gonogo's cost per
    probe (0.93 ms at 100 targets, 0.68 ms at 300: 20 % of a core). On aiohttp (its C
    parser, kept-alive connections) a probe costs 0.40 ms at 100 targets and 0.23-0.26
    ms at 300 (7-8 % of a core), within ~0.03 ms of a bare aiohttp GET in that pattern
    (bench/probe_load.py; the README, "Probes"). The sources send a few requests a
    minute: httpx stays there.

    TLS is verified (with httpx's CA bundle, $SSL_CERT_FILE / $SSL_CERT_DIR honoured
    as httpx does), redirects are not followed (a 301 is "HTTP 301" unless expected),
    nothing is decompressed (identity is asked for, and a body is judged as it came),
    no cookie is kept, a proxy named by HTTP_PROXY / HTTPS_PROXY (less NO_PROXY) is
    used as httpx did, per-request timeouts come from the target, and the pools bound
    how many requests are in flight.

    Connections are kept alive and reused. A new connection per probe (the earliest
    choice, so that a probe saw what a new client sees and an idle connection closed
    by the server could not fail a check) cost ~2 ms of CPU each with httpx: 300
    targets at 1 s took over half a core. Reuse hides what only a new connection shows
    (connect, the TLS handshake, a certificate that changed or expired, a new address
    for a name), so it is bounded: each target's probe opens a new connection, on the
    `fresh` session that keeps none, whenever its last one is older than the target's
    `reconnect_every` (default 1 min). A server closing an idle kept connection just as
    a probe uses it must not read as a failed check: probe() sends such a request once
    more, on a new connection (see retry_on_new_connection). A probe that stops
    reading a body (too large, timeout, a wrong status) closes its connection, never
    pools it half-read. An idle kept connection is dropped after KEEPALIVE_EXPIRY; the
    kept ones to an origin are at most the requests in flight to it at once
    (PER_ORIGIN_CONNECTIONS at most).
    """
    return ProbeClient()


def make_http_client() -> httpx.AsyncClient:
    """The httpx client for the PromQL and Alertmanager requests: the settings the
    probes had before they moved to aiohttp (make_client), kept for these sources.
    TLS verified ($SSL_CERT_FILE / $SSL_CERT_DIR honoured), redirects not followed,
    no compression asked for, a 10 s fallback timeout (each source passes its own),
    connections kept alive."""
    return httpx.AsyncClient(
        verify=httpx.create_ssl_context(),
        follow_redirects=False,
        timeout=httpx.Timeout(10.0),
        headers=DEFAULT_HEADERS,
        limits=httpx.Limits(max_connections=HTTP_CONNECTIONS, max_keepalive_connections=HTTP_KEPT,
                            keepalive_expiry=KEEPALIVE_EXPIRY),
    )


def needs_new_connection(last: float | None, now: float, every: float, interval: float) -> bool:
    """Whether a target's probe at `now` must open a new connection, its last one
    having been opened at `last` (None: never). Half an interval of slack, so an
    `every` equal to the interval means every probe even when one starts a little
    early against the last."""
    return last is None or now - last >= every - interval / 2


# -- one request ----------------------------------------------------------------------


def start_get(session: aiohttp.ClientSession, request: _Request, sent: "Sent"):
    """One attempt: the GET, awaited to its response headers (the body is read by the
    caller, from the response's stream)."""
    return session.get(
        request.url,
        headers=request.headers,  # over the session's defaults; values are registered secrets
        allow_redirects=False,
        proxy=request.proxy,
        trace_request_ctx=sent,
    )


def _make_request(target: Target) -> _Request:
    url = URL(target.url)
    headers = dict(target.headers) if target.headers else {}
    if url.user is not None or url.password is not None:
        # Credentials in the URL are sent as Basic auth (UTF-8, as httpx did) and
        # leave the URL; aiohttp would refuse them beside a configured Authorization.
        userpass = f"{url.user or ''}:{url.password or ''}".encode()
        for name in [k for k in headers if k.lower() == "authorization"]:
            del headers[name]
        headers["Authorization"] = "Basic " + base64.b64encode(userpass).decode("ascii")
        url = url.with_user(None)
    return _Request(url=url, headers=headers or None, proxy=_env_proxy(url))


def _env_proxy(url: URL) -> str | None:
    """The proxy the environment names for `url` (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY,
    less NO_PROXY), as httpx honoured them; None for none."""
    try:
        proxies = urllib.request.getproxies_environment()
        if not proxies or not url.host or urllib.request.proxy_bypass_environment(url.host, proxies):
            return None
        proxy = proxies.get(url.scheme) or proxies.get("all")
    except Exception:
        return None
    if not proxy:
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def retry_on_new_connection(exc: BaseException, sent: "Sent") -> bool:
    """Whether an attempt that raised `exc` is sent once more, on a new connection.

    Only a request on a reused connection that failed before any answer came back,
    the way a connection the server closed (idle) as the request left fails: EOF
    (aiohttp's ServerDisconnectedError), a reset or a write error (ClientOSError, or
    aiohttp's ClientConnectionResetError, a ConnectionResetError). A GET is safe to
    send again. Not a timeout (its time is spent), not a failure on a new connection
    (that is the service's), not anything after the status line."""
    return (
        sent.reused
        and not sent.answered
        and isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, ConnectionResetError))
        and not isinstance(exc, TimeoutError)
    )


class Sent:
    """What aiohttp's trace tells about one request: when it left (the start of the
    connect for a new connection, the moment a kept one is taken from the pool, both
    after any wait for the pool), whether a connection was made or used at all (so a
    failure can tell "never connected", latency None, from "failed on a connection"),
    whether it was a new one, and whether an answer came back. restart() forgets an
    attempt for the next one."""

    __slots__ = ("_loop", "_created", "on_first_start", "started", "seen", "new_connection", "answered")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._created = time.perf_counter()  # the start for a request no trace reported
        self.on_first_start: Callable[[float], object] | None = None  # once, at the first request's start
        self.restart()

    def restart(self) -> None:
        self.started: float | None = None  # time.perf_counter()
        self.seen = False
        self.new_connection = False
        self.answered = False

    @property
    def reused(self) -> bool:
        return self.seen and not self.new_connection

    def elapsed_ms(self) -> float:
        started = self._created if self.started is None else self.started
        return round((time.perf_counter() - started) * 1000.0, 3)

    def _start(self) -> None:
        if self.started is None:
            self.started = time.perf_counter()
            if self.on_first_start is not None:
                self.on_first_start(self._loop.time())
                self.on_first_start = None

    def connecting(self) -> None:  # a new connection: its connect starts
        self.new_connection = True
        self._start()

    def connected(self) -> None:  # ... and is up (TCP, TLS, a proxy's tunnel)
        self.seen = True

    def reusing(self) -> None:  # a kept connection taken from the pool
        self.seen = True
        self._start()

    def failed(self, exc: BaseException) -> None:
        """A new connection that failed its TLS handshake did connect: aiohttp reports
        the end of a connect only after the handshake, so the failure says it."""
        if self.new_connection and not self.seen and any(
            isinstance(e, (ssl.SSLError, ssl.CertificateError)) for e in causes(exc)
        ):
            self.seen = True


def _trace_config() -> aiohttp.TraceConfig:
    """The hooks that feed a request's Sent (passed as its trace_request_ctx).
    on_connection_create_start comes after any wait for the pool (the connector's
    queue), and before the name lookup and connect; on_connection_reuseconn when a
    kept connection is taken, after any such wait. on_request_start is not used: it
    comes before the wait for the pool."""

    async def create_start(session, ctx, params) -> None:
        if isinstance(sent := ctx.trace_request_ctx, Sent):
            sent.connecting()

    async def create_end(session, ctx, params) -> None:
        if isinstance(sent := ctx.trace_request_ctx, Sent):
            sent.connected()

    async def reuse(session, ctx, params) -> None:
        if isinstance(sent := ctx.trace_request_ctx, Sent):
            sent.reusing()

    config = aiohttp.TraceConfig()
    config.on_connection_create_start.append(create_start)
    config.on_connection_create_end.append(create_end)
    config.on_connection_reuseconn.append(reuse)
    config.freeze()
    return config


_TRACE = _trace_config()
