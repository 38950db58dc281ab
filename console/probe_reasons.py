"""A failed probe's reason, from the exception its request raised: short, one line, in
an on-call engineer's words ("timeout after 2s", "connection refused", "DNS: api.internal
not found", "TLS: certificate verify failed: certificate has expired", ...). Not yet
masked: console.probe masks and clips every reason. A timeout is written as the
target's timeout was configured ("2s", "500ms"), as the sources write theirs.
"""
from __future__ import annotations

import errno
import re
import socket
import ssl
from urllib.parse import urlsplit

import aiohttp

from .config import Target
from .durations import format_duration
from .errors import causes


def describe_error(exc: BaseException, target: Target) -> str:
    """A short, human reason for a failed request (not yet masked)."""
    host = urlsplit(target.url).hostname or "?"
    for e in causes(exc):
        if isinstance(e, TimeoutError):  # the probe's deadline (and aiohttp's own timeouts)
            return f"timeout after {format_duration(target.timeout)}"
        if isinstance(e, (ssl.SSLError, ssl.CertificateError)):
            return f"TLS: {_ssl_reason(exc)}"
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
    # aiohttp's own errors, with no cause of the kinds above.
    for e in causes(exc):
        if isinstance(e, aiohttp.ServerDisconnectedError):
            return "server disconnected without sending a response"
        if isinstance(e, aiohttp.ClientPayloadError):
            return "body cut short: the connection ended before the whole body came"
        if isinstance(e, aiohttp.ClientResponseError) and not isinstance(e, aiohttp.ClientHttpProxyError):
            # The server's answer broke HTTP (a bad status line, a bad header).
            message = _strerror_text(e.message)
            return f"invalid HTTP response: {message}" if message else "invalid HTTP response"
        if isinstance(e, aiohttp.ClientConnectorError):
            message = _strerror(e.os_error) or _strerror(e)
            return f"cannot connect: {message}" if message else "cannot connect"
    # Last resort: the outermost exception's name, with the first useful message
    # anywhere in the chain ("[Errno 113] No route to host" → "No route to host").
    message = ""
    for e in causes(exc):
        message = _strerror(e)
        if message:
            break
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def _ssl_reason(exc: BaseException) -> str:
    """What the TLS layer said, from the ssl module's own error in the chain (aiohttp
    wraps it in errors that are ssl errors too, with none of its details)."""
    errors = [e for e in causes(exc) if isinstance(e, (ssl.SSLError, ssl.CertificateError))]
    for e in errors:
        verify_message = getattr(e, "verify_message", None)
        if isinstance(e, ssl.SSLCertVerificationError) and verify_message:
            return f"certificate verify failed: {verify_message}".rstrip(".")
    for e in errors:
        reason = getattr(e, "reason", None)
        if reason and not isinstance(e, aiohttp.ClientSSLError):
            return str(reason).replace("_", " ").lower()
    for e in errors:
        if not isinstance(e, aiohttp.ClientSSLError) and (message := _strerror(e)):
            return message
    return "handshake failed"


def _strerror(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        text = e.strerror
    else:
        text = str(e)
    return _strerror_text(text)


def _strerror_text(text: object) -> str:
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(text or ""))
    return " ".join(text.split()).rstrip(".")
