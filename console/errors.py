"""Walking an exception's chain: what an error was raised from, or while handling,
through exception groups and wrapped errors. One walker for every reason gonogo
gives from an exception (probes, Prometheus, Alertmanager)."""
from __future__ import annotations

from collections.abc import Iterator


def causes(exc: BaseException) -> Iterator[BaseException]:
    """exc, then what it was raised from or while handling, breadth-first, through
    exception groups; each exception once."""
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
        # aiohttp keeps the OSError it wraps in its args (ClientConnectorError(key,
        # the_error)), httpcore its ConnectError's; and a cause can be lost on the way
        # out of a context manager, where the context still has it.
        queue.extend(a for a in e.args if isinstance(a, BaseException))
        if e.__context__ is not None:
            queue.append(e.__context__)
