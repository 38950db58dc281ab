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
make_client for how that is kept honest, and why probes go through aiohttp while
the PromQL and Alertmanager requests go through httpx (make_http_client).

Here: the probe itself. Beside it: the clients, their sessions and the timing of a
request (console.http_clients), the reason a request failed (console.probe_reasons),
the capped read of the body (console.http_body), and the judgement of a body
(checks.health_body). Their public names are importable from here too.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timezone

from checks.health_body import HEALTHY_STATUSES, judge_body
from checks.models import ProbeResult

from .config import Target
from .http_body import BodyTooLarge, read_capped
from .http_clients import (
    DEFAULT_HEADERS,
    USER_AGENT,
    ProbeClient,
    Sent,
    make_client,
    make_http_client,
    needs_new_connection,
    retry_on_new_connection,
    start_get,
)
from .probe_reasons import describe_error
from .secrets import mask_text

__all__ = [
    "DEFAULT_HEADERS", "HEALTHY_STATUSES", "USER_AGENT", "ProbeClient", "describe_error", "judge_body",
    "make_client", "make_http_client", "needs_new_connection", "probe",
]

_REASON_MAX = 120  # characters; a reason is one line in a table cell

Now = datetime | Callable[[], datetime] | None


async def probe(client: ProbeClient, target: Target, *, now: Now = None) -> ProbeResult:
    """One health check of `target`. Never raises, except CancelledError.

    `now` is the start time to record (a datetime or a clock callable; default the
    current UTC time). `latency_ms` is the time from the request leaving (the start of
    the connect of a new connection, or the moment a reused one is taken from the
    pool) to the full response or to the failure; None when no connection was made
    (refused, DNS, connect timeout; also a TLS handshake that never ends, aiohttp
    telling of a connect only with its handshake: a failed handshake says itself that
    it connected). The timeout runs from that moment too; before it, the wait for a
    pooled connection is bounded by the same timeout. The target's
    reconnect_every decides when a new connection is opened, and a request that a
    reused connection lost before any answer is sent once more on a new one.
    """
    at = _start_time(now)
    limit = target.timeout.total_seconds()
    loop = asyncio.get_running_loop()
    status: int | None = None
    latency: float | None = None
    sent = Sent(loop)

    def result(ok: bool, reason: str = "") -> ProbeResult:
        if sent.new_connection and sent.seen:
            client.new_connection_at[target.name] = loop.time()
        return ProbeResult(
            target=target.name,
            at=at,
            ok=ok,
            status=status,
            latency_ms=latency,
            reason=_clip(mask_text(reason)) if reason else "",
        )

    try:
        request = client.request_for(target)
        new = needs_new_connection(
            client.new_connection_at.get(target.name), loop.time(),
            target.reconnect_every.total_seconds(), target.interval.total_seconds(),
        )
        first = client.fresh if new else client.kept
        async with asyncio.timeout(limit) as deadline:
            # The timeout first bounds the wait for a connection; from the moment the
            # request leaves it is the target's whole timeout again.
            sent.on_first_start = lambda t: deadline.reschedule(t + limit)
            response = None
            try:
                response = await start_get(first, request, sent)
            except Exception as exc:
                if not retry_on_new_connection(exc, sent):
                    raise
            if response is None:  # outside the except: the second attempt's error is its own
                sent.restart()
                response = await start_get(client.fresh, request, sent)
            sent.seen = sent.answered = True
            complete = False
            try:
                status = response.status
                if status not in target.expect_status:
                    latency = sent.elapsed_ms()  # the failure is known at the headers
                    return result(False, f"HTTP {status}")
                try:
                    body = await read_capped(
                        response.content.iter_any(), target.max_body, response.headers.get("content-length")
                    )
                except BodyTooLarge:
                    latency = sent.elapsed_ms()
                    return result(False, f"body too large (> {target.max_body} bytes)")
                complete = True
            finally:
                # Read to its end, the connection goes back to the pool (aiohttp did
                # that at the end of the body); otherwise it is closed, never pooled
                # half-read.
                if complete:
                    response.release()
                else:
                    response.close()
            latency = sent.elapsed_ms()
            headers = response.headers
            problem = judge_body(headers.get("content-type", ""), body, headers.get("content-encoding", ""))
            return result(problem is None, problem or "")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # every other failure is a failed check, with its reason
        sent.failed(exc)
        if sent.seen and latency is None:
            latency = sent.elapsed_ms()
        try:
            reason = describe_error(exc, target)
        except Exception:  # never let the reason break the "never raises"
            reason = type(exc).__name__
        return result(False, reason)


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


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 1] + "…"
