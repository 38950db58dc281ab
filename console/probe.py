"""Health probes: one GET of one target, judged, as a ProbeResult. Never raises.

Every way an endpoint can fail becomes a failed check with a short reason an on-call
engineer can read at a glance ("timeout after 2s", "connection refused", "HTTP 503",
"invalid body: not JSON", "body too large (> 65536 bytes)", ...). The body is streamed
and never read past the target's max_body; the whole probe (connect + headers + body)
is bounded by the target's timeout, so a slow-drip body cannot hold a probe loop.
"""
from __future__ import annotations

import asyncio
import codecs
import errno
import json
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import httpx

from checks.models import ProbeResult

from . import __version__
from .config import Target
from .secrets import mask_text

HEALTHY_STATUSES = frozenset({"ok", "healthy", "pass", "passing", "up", "green"})
USER_AGENT = f"gonogo/{__version__}"
_REASON_MAX = 120  # characters; a reason is one line in a table cell
_VALUE_MAX = 40  # characters of a reported status echoed back

Now = datetime | Callable[[], datetime] | None


def make_client() -> httpx.AsyncClient:
    """The one HTTP client shared by every target's probes.

    TLS is verified (with $SSL_CERT_FILE / $SSL_CERT_DIR honoured, as httpx does),
    redirects are not followed (a 301 is "HTTP 301" unless expected), and each probe
    opens a fresh connection: no keep-alive, so a probe measures what a new client
    would see (connect, TLS handshake, certificate validity) and a server closing an
    idle pooled connection can never fail a check that was healthy. The pool still
    bounds how many probes are in flight. Per-request timeouts come from the target.
    """
    return httpx.AsyncClient(
        verify=True,
        follow_redirects=False,
        timeout=httpx.Timeout(10.0),  # only a fallback: probe() passes the target's
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=0),
        headers={
            "User-Agent": USER_AGENT,
            "Accept": "application/json, text/plain;q=0.9, */*;q=0.5",
            # The byte cap applies to what arrives; a compressed body could expand
            # far beyond it in one chunk, so ask for none.
            "Accept-Encoding": "identity",
            "Cache-Control": "no-cache",
        },
    )


async def probe(client: httpx.AsyncClient, target: Target, *, now: Now = None) -> ProbeResult:
    """One health check of `target`. Never raises, except CancelledError.

    `now` is the start time to record (a datetime or a clock callable; default the
    current UTC time). `latency_ms` is the time to the full response or to the
    failure, or None when no connection was made (refused, DNS, connect timeout).
    """
    at = _start_time(now)
    limit = target.timeout.total_seconds()
    started = time.perf_counter()
    conn = _ConnectionSeen()
    status: int | None = None
    latency: float | None = None

    def result(ok: bool, reason: str = "") -> ProbeResult:
        return ProbeResult(
            target=target.name,
            at=at,
            ok=ok,
            status=status,
            latency_ms=latency,
            reason=_clip(mask_text(reason)) if reason else "",
        )

    def elapsed_ms() -> float:
        return round((time.perf_counter() - started) * 1000.0, 3)

    try:
        async with asyncio.timeout(limit):
            async with client.stream(
                "GET",
                target.url,
                headers=target.headers or None,  # over the client's defaults; values are registered secrets
                timeout=httpx.Timeout(limit),
                extensions={"trace": conn.trace},
            ) as response:
                conn.seen = True
                status = response.status_code
                if status not in target.expect_status:
                    latency = elapsed_ms()  # the failure is known at the headers
                    return result(False, f"HTTP {status}")
                too_large = f"body too large (> {target.max_body} bytes)"
                if _declared_length(response) > target.max_body:
                    latency = elapsed_ms()
                    return result(False, too_large)
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > target.max_body:
                        latency = elapsed_ms()
                        return result(False, too_large)  # leaving the block drops the connection
                latency = elapsed_ms()
                problem = judge_body(response.headers.get("content-type", ""), bytes(body))
                return result(problem is None, problem or "")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # every other failure is a failed check, with its reason
        if conn.seen and latency is None:
            latency = elapsed_ms()
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


class _ConnectionSeen:
    """Set when httpcore reports a TCP connection made or a request sent on one, so a
    failure can tell "never connected" (latency None) from "failed on a connection"."""

    def __init__(self) -> None:
        self.seen = False

    async def trace(self, name: str, info: dict) -> None:
        if name == "connection.connect_tcp.complete" or name.startswith(("http11.", "http2.")):
            self.seen = True


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
