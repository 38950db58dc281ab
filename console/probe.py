"""Health probes: one GET of one target, judged, as a ProbeResult. Never raises.

Every way an endpoint can fail becomes a failed check with a short reason an on-call
engineer can read at a glance ("timeout after 2s", "connection refused", "HTTP 503",
"invalid body: not JSON", "body too large (> 65536 bytes)", ...). The body is streamed
and never read past the target's max_body; the whole probe (connect + headers + body)
is bounded by the target's timeout, so a slow-drip body cannot hold a probe loop.

A probe measures the service, not gonogo: its latency (and its timeout) run from the
moment the request leaves, a new connection's connect and TLS handshake included
(that is the service and its network), a wait for a pooled connection or for the
event loop before it excluded. Connections are kept alive between probes; see
make_client for how that is kept honest.
"""
from __future__ import annotations

import asyncio
import codecs
import contextlib
import errno
import importlib.util
import json
import re
import socket
import ssl
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import httpx

from checks.models import ProbeResult

from . import __version__
from .config import Target
from .secrets import mask_text

# httpcore 1.0 imports the optional `sniffio` each time it sets up a lock, four times
# a request, and Python does not remember an import that failed: without sniffio
# (anyio >= 4.11 stopped bringing it) each probe paid ~0.15 ms of CPU on the 2-core
# reference machine, a third of its cost, searching sys.path for it. None in
# sys.modules makes that import fail at once, which is all httpcore needs to know (it
# then assumes asyncio, as we run). Upstream: encode/httpcore#1103.
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)

HEALTHY_STATUSES = frozenset({"ok", "healthy", "pass", "passing", "up", "green"})
USER_AGENT = f"gonogo/{__version__}"
_REASON_MAX = 120  # characters; a reason is one line in a table cell
_VALUE_MAX = 40  # characters of a reported status echoed back

# The pools (make_client). Each origin a probe reaches has its own kept-alive pool:
# httpcore scans every connection of a pool, with a poll() each, twice a request, so
# one pool holding the connections of many origins costs more per probe than it saves.
PER_ORIGIN_CONNECTIONS = 32  # in flight to one origin (one probe per target at a time)
PER_ORIGIN_KEPT = 4  # idle connections kept per origin
NEW_CONNECTIONS = 64  # in flight on `fresh`, which keeps none
# An idle kept connection older than this is closed rather than reused: under the idle
# timeouts of load balancers and NAT (60 s and more), which may drop a connection
# without a word, so a kept connection is never a black hole a probe times out in.
KEEPALIVE_EXPIRY = 30.0

Now = datetime | Callable[[], datetime] | None


class ProbeClient(httpx.AsyncClient):
    """The client make_client returns. Itself an httpx client that keeps connections
    alive (for PromQL and Alertmanager requests), it holds what probes need on top:
    one kept-alive client per origin (`kept_for`), one that never keeps a connection
    (`fresh`), for a probe that must open a new one, and the time each target's probe
    last did (`new_connection_at`, see probe())."""

    def __init__(self, *, settings: dict, **kwargs) -> None:
        super().__init__(**settings, **kwargs)
        self._settings = settings
        self.fresh = httpx.AsyncClient(
            **settings, limits=httpx.Limits(max_connections=NEW_CONNECTIONS, max_keepalive_connections=0)
        )
        self._by_url: dict[str, httpx.AsyncClient] = {}
        self._by_origin: dict[tuple[str, str, int | None], httpx.AsyncClient] = {}
        self.new_connection_at: dict[str, float] = {}  # target name -> event loop time

    def kept_for(self, url: str) -> httpx.AsyncClient:
        """The kept-alive client for the origin of `url` (made at first use)."""
        client = self._by_url.get(url)
        if client is None:
            parts = urlsplit(url)
            origin = (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)
            client = self._by_origin.get(origin)
            if client is None:
                client = httpx.AsyncClient(**self._settings, limits=httpx.Limits(
                    max_connections=PER_ORIGIN_CONNECTIONS,
                    max_keepalive_connections=PER_ORIGIN_KEPT,
                    keepalive_expiry=KEEPALIVE_EXPIRY,
                ))
                self._by_origin[origin] = client
            self._by_url[url] = client
        return client

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            for client in [self.fresh, *self._by_origin.values()]:
                await client.aclose()

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


def make_client() -> ProbeClient:
    """The one HTTP client shared by every target's probes (and the PromQL and
    Alertmanager requests).

    TLS is verified (with $SSL_CERT_FILE / $SSL_CERT_DIR honoured, as httpx does),
    redirects are not followed (a 301 is "HTTP 301" unless expected), per-request
    timeouts come from the target, and the pools bound how many requests are in flight.

    Connections are kept alive and reused, in one pool per origin. A new connection
    per probe (the earlier choice, so that a probe saw what a new client sees and an
    idle connection closed by the server could not fail a check) cost ~2 ms of CPU
    each: 300 targets at 1 s took over half a core. Reuse hides what only a new
    connection shows (connect, the TLS handshake, a certificate that changed or
    expired, a new address for a name), so it is bounded: each target's probe opens a
    new connection, on the `fresh` client that keeps none, whenever its last one is
    older than the target's `reconnect_every` (default 1 min). A server closing an
    idle kept connection just as a probe uses it must not read as a failed check:
    probe() sends such a request once more, on a new connection (see
    _retry_on_new_connection). A probe that stops reading a body (too large, timeout,
    a wrong status) leaves its connection closed, never pooled half-read (httpcore
    pools a connection only when both sides finished the exchange). An idle kept
    connection is dropped after KEEPALIVE_EXPIRY.
    """
    settings = dict(
        verify=httpx.create_ssl_context(),  # one TLS context (the CA bundle loaded once) for every pool
        follow_redirects=False,
        timeout=httpx.Timeout(10.0),  # only a fallback: probe() passes the target's
        headers={
            "User-Agent": USER_AGENT,
            "Accept": "application/json, text/plain;q=0.9, */*;q=0.5",
            # The byte cap applies to what arrives; a compressed body could expand
            # far beyond it in one chunk, so ask for none.
            "Accept-Encoding": "identity",
            "Cache-Control": "no-cache",
        },
    )
    return ProbeClient(
        settings=settings,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=PER_ORIGIN_KEPT,
                            keepalive_expiry=KEEPALIVE_EXPIRY),
    )


def needs_new_connection(last: float | None, now: float, every: float, interval: float) -> bool:
    """Whether a target's probe at `now` must open a new connection, its last one
    having been opened at `last` (None: never). Half an interval of slack, so an
    `every` equal to the interval means every probe even when one starts a little
    early against the last."""
    return last is None or now - last >= every - interval / 2


async def probe(client: httpx.AsyncClient, target: Target, *, now: Now = None) -> ProbeResult:
    """One health check of `target`. Never raises, except CancelledError.

    `now` is the start time to record (a datetime or a clock callable; default the
    current UTC time). `latency_ms` is the time from the request leaving (the connect
    of a new connection, or the request headers on a reused one) to the full response
    or to the failure; None when no connection was made (refused, DNS, connect
    timeout). The timeout runs from that moment too; before it, the wait for a pooled
    connection is bounded by the same timeout. With make_client's client, the target's
    reconnect_every decides when a new connection is opened, and a request that a
    reused connection lost before any answer is sent once more on a new one.
    """
    at = _start_time(now)
    limit = target.timeout.total_seconds()
    loop = asyncio.get_running_loop()
    pools = client if isinstance(client, ProbeClient) else None
    status: int | None = None
    latency: float | None = None
    sent = _Sent(loop)

    def result(ok: bool, reason: str = "") -> ProbeResult:
        if pools is not None and sent.new_connection and sent.seen:
            pools.new_connection_at[target.name] = loop.time()
        return ProbeResult(
            target=target.name,
            at=at,
            ok=ok,
            status=status,
            latency_ms=latency,
            reason=_clip(mask_text(reason)) if reason else "",
        )

    new = pools is not None and needs_new_connection(
        pools.new_connection_at.get(target.name), loop.time(),
        target.reconnect_every.total_seconds(), target.interval.total_seconds(),
    )
    try:
        async with asyncio.timeout(limit) as deadline, contextlib.AsyncExitStack() as stack:
            # The timeout first bounds the wait for a connection; from the moment the
            # request leaves it is the target's whole timeout again.
            sent.on_first_start = lambda t: deadline.reschedule(t + limit)
            response = None
            try:
                first = client if pools is None else pools.fresh if new else pools.kept_for(target.url)
                response = await stack.enter_async_context(_get(first, target, limit, sent))
            except Exception as exc:
                if pools is None or not _retry_on_new_connection(exc, sent):
                    raise
            if response is None:  # outside the except: the second attempt's error is its own
                sent.restart()
                response = await stack.enter_async_context(_get(pools.fresh, target, limit, sent))
            sent.seen = True
            status = response.status_code
            if status not in target.expect_status:
                latency = sent.elapsed_ms()  # the failure is known at the headers
                return result(False, f"HTTP {status}")
            too_large = f"body too large (> {target.max_body} bytes)"
            if _declared_length(response) > target.max_body:
                latency = sent.elapsed_ms()
                return result(False, too_large)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > target.max_body:
                    latency = sent.elapsed_ms()
                    return result(False, too_large)  # leaving the block drops the connection
            latency = sent.elapsed_ms()
            problem = judge_body(response.headers.get("content-type", ""), bytes(body))
            return result(problem is None, problem or "")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # every other failure is a failed check, with its reason
        if sent.seen and latency is None:
            latency = sent.elapsed_ms()
        return result(False, describe_error(exc, target))


def judge_body(content_type: str, body: bytes) -> str | None:
    """None when the body is acceptable, else the reason it is junk.

    JSON content types must parse; a JSON object with a "status" key must report one
    of HEALTHY_STATUSES. Anything else must be text in its declared charset (UTF-8
    when none is declared). An empty body is fine.
    """
    if not body:
        return None
    media, charset = _parse_content_type(content_type)
    if media == "application/json" or media.endswith("+json"):
        try:
            doc = json.loads(body)  # detects UTF-8/16/32 itself
        except UnicodeDecodeError:
            return "invalid body: not text"
        except ValueError as e:
            msg = getattr(e, "msg", str(e))
            pos = getattr(e, "pos", None)
            return f"invalid body: not JSON ({msg} at char {pos})" if pos is not None else "invalid body: not JSON"
        if isinstance(doc, dict) and "status" in doc:
            value = doc["status"]
            if isinstance(value, str) and value.strip().lower() in HEALTHY_STATUSES:
                return None
            shown = value if isinstance(value, str) else json.dumps(value)
            shown = " ".join(shown.split())
            if len(shown) > _VALUE_MAX:
                shown = shown[: _VALUE_MAX - 1] + "…"
            return f"reported status '{shown}'"
        return None
    encoding = "utf-8"
    if charset:
        try:
            encoding = codecs.lookup(charset).name
        except LookupError:
            encoding = "utf-8"
    try:
        body.decode(encoding)
    except UnicodeDecodeError:
        return "invalid body: not text"
    return None


def describe_error(exc: BaseException, target: Target) -> str:
    """A short, human reason for a failed request (not yet masked)."""
    host = urlsplit(target.url).hostname or "?"
    for e in _causes(exc):
        if isinstance(e, (httpx.TimeoutException, TimeoutError)):
            return f"timeout after {_seconds(target.timeout)}"
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"TLS: {_ssl_reason(e)}"
        if isinstance(e, ssl.SSLError):
            return f"TLS: {_ssl_reason(e)}"
        if isinstance(e, socket.gaierror):
            if e.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
                return f"DNS: {host} not found"
            return f"DNS: {host} lookup failed ({_strerror(e)})"
        if isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
        if isinstance(e, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)) or getattr(
            e, "errno", None
        ) in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
            return "connection reset"
    # Last resort: the outermost exception's name, with the first useful message
    # anywhere in the chain ("[Errno 113] No route to host" → "No route to host").
    message = ""
    for e in _causes(exc):
        message = _strerror(e)
        if message:
            break
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


# -- helpers ------------------------------------------------------------------------


def _get(client: httpx.AsyncClient, target: Target, limit: float, sent: "_Sent"):
    """The streamed GET of one attempt (an async context manager)."""
    return client.stream(
        "GET",
        target.url,
        headers=target.headers or None,  # over the client's defaults; values are registered secrets
        timeout=httpx.Timeout(limit),
        extensions={"trace": sent.trace},
    )


def _retry_on_new_connection(exc: BaseException, sent: "_Sent") -> bool:
    """Whether an attempt that raised `exc` is sent once more, on a new connection.

    Only a request on a reused connection that failed before any answer came back,
    the way a connection the server closed (idle) as the request left fails: EOF
    ("Server disconnected without sending a response"), a reset, a write error. A GET
    is safe to send again. Not a timeout (its time is spent), not a failure on a new
    connection (that is the service's), not anything after the status line."""
    return (
        sent.reused
        and not sent.answered
        and isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError))
    )


class _Sent:
    """What httpcore's trace tells about one request: when it left (the start of the
    connect for a new connection, the request headers for a reused one), whether a
    connection was made or used at all (so a failure can tell "never connected",
    latency None, from "failed on a connection"), whether it was a new one, and
    whether an answer came back. restart() forgets an attempt for the next one."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._created = time.perf_counter()  # the start for a transport that reports no trace
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

    async def trace(self, name: str, info: dict) -> None:
        if name == "connection.connect_tcp.started":
            self.new_connection = True
            self._start()
        elif name.endswith(".send_request_headers.started"):
            self._start()
        if name == "connection.connect_tcp.complete" or name.startswith(("http11.", "http2.")):
            self.seen = True
        if name.endswith(".receive_response_headers.complete"):
            self.answered = True


def _start_time(now: Now) -> datetime:
    try:
        at = now() if callable(now) else now
    except Exception:
        at = None
    if not isinstance(at, datetime):
        return datetime.now(timezone.utc)
    if at.tzinfo is None:
        return at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc)


def _declared_length(response: httpx.Response) -> int:
    try:
        return int(response.headers.get("content-length", "-1"))
    except ValueError:
        return -1


def _parse_content_type(value: str) -> tuple[str, str]:
    parts = [p.strip() for p in value.split(";")]
    media = parts[0].lower() if parts else ""
    charset = ""
    for p in parts[1:]:
        k, _, v = p.partition("=")
        if k.strip().lower() == "charset":
            charset = v.strip().strip('"').strip("'")
    return media, charset


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """exc, then what it was raised from or while handling, breadth-first, through
    exception groups."""
    seen: set[int] = set()
    queue: list[BaseException] = [exc]
    while queue:
        e = queue.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        if isinstance(e, BaseExceptionGroup):
            queue.extend(e.exceptions)
        if e.__cause__ is not None:
            queue.append(e.__cause__)
        # httpcore wraps an OSError as ConnectError(the_error), and its cause can be
        # lost on the way out of a context manager; the context still has it.
        queue.extend(a for a in e.args if isinstance(a, BaseException))
        if e.__context__ is not None:
            queue.append(e.__context__)


def _ssl_reason(e: ssl.SSLError) -> str:
    if isinstance(e, ssl.SSLCertVerificationError) and e.verify_message:
        return f"certificate verify failed: {e.verify_message}".rstrip(".")
    reason = getattr(e, "reason", None)
    if reason:
        return str(reason).replace("_", " ").lower()
    return _strerror(e) or "handshake failed"


def _strerror(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        text = e.strerror
    else:
        text = str(e)
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text)
    return " ".join(text.split()).rstrip(".")


def _seconds(td: timedelta) -> str:
    s = td.total_seconds()
    return f"{s:g}s" if s >= 1 or s == 0 else f"{round(s * 1000):g}ms"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 1] + "…"
