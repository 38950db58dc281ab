"""An HTTP body read under a byte cap: the one loop the health probes (aiohttp,
`console.probe`) and the Prometheus / Alertmanager sources (httpx,
`console.sources._http`) share.

It does no I/O of its own: it is given the chunks as they arrive and the declared
Content-Length, and either returns the body or raises `BodyTooLarge`, which each
caller words its own way ("body too large (> 65536 bytes)" on a probe, "response too
large (...)" from a source, as each room's reasons read). What counts against the cap
is what the chunks hold: the bytes as they came for a probe (it decompresses
nothing), the decoded bytes for a source (httpx decodes a compressed answer; none is
asked for).
"""
from __future__ import annotations

from collections.abc import AsyncIterable


class BodyTooLarge(Exception):
    """A body over `cap` bytes. `declared` is the Content-Length when that said so
    before a byte was read; None when the bytes that arrived passed the cap."""

    def __init__(self, cap: int, declared: int | None = None) -> None:
        super().__init__(f"body over {cap} bytes" + (f" ({declared} declared)" if declared is not None else ""))
        self.cap = cap
        self.declared = declared


def declared_length(value: str | None) -> int | None:
    """A Content-Length header as a number; None when there is none or it is not a
    plain number (the cap then holds while reading)."""
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else None


async def read_capped(chunks: AsyncIterable[bytes], cap: int, content_length: str | None = None) -> bytes:
    """The whole body, at most `cap` bytes (a body of exactly `cap` is fine).

    Raises BodyTooLarge before a chunk is taken when `content_length` declares more
    than `cap`, else as soon as the bytes that arrived pass it; the chunk that passes
    it is not kept. The caller closes the connection then: a body is never left
    half-read on a pooled one."""
    declared = declared_length(content_length)
    if declared is not None and declared > cap:
        raise BodyTooLarge(cap, declared)
    body = bytearray()
    async for chunk in chunks:
        if len(body) + len(chunk) > cap:
            raise BodyTooLarge(cap)
        body += chunk
    return bytes(body)
