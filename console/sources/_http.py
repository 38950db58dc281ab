"""The one HTTP GET both sources share: a hard deadline, a capped body, and every
transport fault turned into a short `SourceError` reason with no secret in it."""
from __future__ import annotations

import asyncio
import json
import socket
from datetime import timedelta
from typing import Any, Mapping

import httpx

from ..durations import format_duration
from ..errors import causes
from ..http_body import BodyTooLarge, read_capped
from ..secrets import mask_text
from . import SourceError

# Far more than any sane alert list or instant-query answer; a bigger body is a fault.
MAX_BODY_BYTES = 8 * 1024 * 1024


def join_url(base_url: str, path: str) -> str:
    """`http://h:9090/` + `/api/v1/query`, keeping a path prefix (`http://h/prom`)."""
    return base_url.rstrip("/") + path


def timeout_reason(timeout: float) -> str:
    return f"timeout after {format_duration(timedelta(seconds=max(timeout, 0.0)))}"


def _connect_reason(exc: BaseException) -> str:
    text = ""
    for e in causes(exc):
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, socket.gaierror):
            return "cannot resolve host"
        text = text or str(e)
    low = text.lower()
    if "refused" in low:
        return "connection refused"
    if "name or service not known" in low or "nodename nor servname" in low:
        return "cannot resolve host"
    return mask_text(f"cannot connect: {text}" if text else "cannot connect")


async def http_get(
    client: httpx.AsyncClient,
    url: str,
    params: dict[str, str],
    timeout: float,
    *,
    max_bytes: int = MAX_BODY_BYTES,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    """GET `url` with the configured `headers` (they may set Accept too); return
    (status, body). Raises `SourceError` on a timeout (the whole exchange, not each
    read, must finish within `timeout` seconds), a refused or broken connection, or
    a body over `max_bytes`. A header value is a registered secret, so an error
    quoting it is masked like the URL."""
    try:
        async with asyncio.timeout(timeout):
            async with client.stream(
                "GET", url, params=params, timeout=timeout, headers={"Accept": "application/json", **(headers or {})}
            ) as resp:
                return resp.status_code, await read_capped(
                    resp.aiter_bytes(), max_bytes, resp.headers.get("content-length")
                )
    except BodyTooLarge as e:
        if e.declared is not None:
            raise SourceError(f"response too large ({e.declared} bytes; limit {max_bytes})") from None
        raise SourceError(f"response too large (over {max_bytes} bytes)") from None
    except (TimeoutError, httpx.TimeoutException):
        raise SourceError(timeout_reason(timeout)) from None
    except httpx.ConnectError as e:
        raise SourceError(_connect_reason(e)) from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        raise SourceError("invalid URL (expected http://host:port)") from None
    except httpx.RemoteProtocolError:
        raise SourceError("invalid response: the server broke the HTTP protocol or closed the connection") from None
    except httpx.DecodingError:
        raise SourceError("invalid response: the body could not be decoded") from None
    except httpx.TooManyRedirects:
        raise SourceError("too many redirects") from None
    except httpx.NetworkError as e:
        raise SourceError(mask_text(f"connection lost: {e}" if str(e) else "connection lost")[:200]) from None
    except httpx.HTTPError as e:
        raise SourceError(mask_text(f"request failed: {type(e).__name__}: {e}")[:200]) from None


def decode_json(body: bytes) -> Any:
    """The body as JSON, or `SourceError("invalid response: not JSON")`."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        start = body[:40].decode("utf-8", "replace").strip()
        hint = f" (starts with {start!r})" if start else " (empty body)"
        raise SourceError(mask_text("invalid response: not JSON" + hint)) from None
