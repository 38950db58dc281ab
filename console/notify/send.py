"""One POST of a webhook's body, and how long to wait before the next try.

The whole exchange has the webhook's timeout (a receiver that accepts the
connection and never answers, or trickles its answer, costs that and no more). A
2xx is delivered. A 408, 429 or 5xx, a timeout or a connection fault is tried
again later; any other status is the request itself refused (a deleted Slack hook
answers 404 or 410), tried no more. The reason never holds the URL's path or query
or a header value: the URL is masked, and every header value is a registered secret.
"""
from __future__ import annotations

import asyncio
import json
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx

from ..config.notify import NotifySection
from ..durations import format_duration
from ..errors import causes
from ..secrets import mask_text, mask_url

BACKOFF_BASE = 1.0  # seconds before the second try
BACKOFF_CAP = 300.0  # never more than five minutes apart


@dataclass(frozen=True, slots=True)
class Delivery:
    ok: bool
    status: int | None = None
    error: str = ""  # why not, masked; "" when delivered
    retry: bool = True  # worth trying again


async def post(client: httpx.AsyncClient, webhook: NotifySection, body: dict) -> Delivery:
    timeout = webhook.timeout.total_seconds()
    content = json.dumps(body, ensure_ascii=False, allow_nan=False).encode()
    headers = {"Content-Type": "application/json", **webhook.headers}
    where = mask_url(webhook.url)
    try:
        async with asyncio.timeout(timeout):
            # Streamed and closed unread: the status is the answer, a body is not wanted.
            async with client.stream("POST", webhook.url, content=content, headers=headers, timeout=timeout) as r:
                status = r.status_code
    except (TimeoutError, httpx.TimeoutException):
        return Delivery(False, error=f"no answer within {format_duration(webhook.timeout)} from {where}")
    except httpx.ConnectError as e:
        return Delivery(False, error=f"{_connect_reason(e)} ({where})")
    except httpx.HTTPError as e:
        return Delivery(False, error=mask_text(f"cannot post to {where}: {type(e).__name__}: {e}")[:300])
    if 200 <= status < 300:
        return Delivery(True, status=status)
    retry = status in (408, 429) or status >= 500
    return Delivery(False, status=status, error=f"HTTP {status} from {where}" + ("" if retry else " (not retried)"),
                    retry=retry)


def _connect_reason(exc: BaseException) -> str:
    for e in causes(exc):
        if isinstance(e, ConnectionRefusedError) or "refused" in str(e).lower():
            return "connection refused"
        if isinstance(e, socket.gaierror):
            return "cannot resolve host"
    return mask_text(f"cannot connect: {exc}")[:200]


def retry_delay(attempts: int, rng: Callable[[], float] = random.random) -> timedelta:
    """After `attempts` failed tries: doubling from BACKOFF_BASE up to BACKOFF_CAP,
    with half of it random ("equal jitter"), so webhooks that failed together do not
    retry in step."""
    step = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    return timedelta(seconds=step / 2 + rng() * step / 2)
