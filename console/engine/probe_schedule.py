"""When each target is probed: pure functions of its name, its interval and the time.

Targets with the same interval must not all fire in the same instant: the probes
would queue behind each other inside gonogo (event loop, connection pool) and a
burst of N costs N probes of CPU at once. So each target probes at a fixed point of
its interval, its *offset*, derived from its name with crc32 (not Python's hash(),
which is salted per process): the same in every process and after every restart, so
a new leader keeps the same slots, and 100 targets at 1 s are spread over the second.

Times are event-loop seconds (time.monotonic, one clock for every process of the
machine); a target's slots are the instants `k * interval + offset`.
"""
from __future__ import annotations

import math
import zlib

# The first probes (before the first evaluation) are spread over this much per target,
# at most STARTUP_SPREAD_MAX in all: 5 targets start within 50 ms, 100 within a second.
STARTUP_SPREAD_PER_TARGET = 0.01
STARTUP_SPREAD_MAX = 1.0


def offset(name: str, interval: float) -> float:
    """Seconds into each interval at which the target named `name` is probed, in
    [0, interval)."""
    return phase(name) * interval


def phase(name: str) -> float:
    """The target's stable fraction of an interval, in [0, 1)."""
    return zlib.crc32(name.encode("utf-8")) / 2**32


def slot_at_or_after(t: float, interval: float, offset: float) -> float:
    """The first of the target's slots at `t` or later."""
    k = math.ceil((t - offset) / interval)
    return k * interval + offset


def next_probe(last: float | None, now: float, interval: float, offset: float) -> float:
    """When the target's next probe starts, its last one having started at `last`
    (None: none yet). Return a time at or before `now` to probe at once.

    The next slot at least half an interval after the last start: on the grid, and
    never two probes of one target closer than that (the first probe after a start
    off the grid joins it). A slot missed by less than half an interval (a busy event
    loop, a probe that ran a little long) is still taken, at once: one late probe, not
    a gap. A slot missed by more (the loop fell behind: a probe slower than its
    interval) is skipped for the first one still ahead; missed probes are never made
    up in a burst."""
    if last is not None:
        due = slot_at_or_after(last + interval / 2, interval, offset)
        if now - due <= interval / 2:
            return due
    return slot_at_or_after(now, interval, offset)


def startup_delay(name: str, interval: float, n_targets: int) -> float:
    """Seconds after start-up at which the target's first probe is made: spread
    over STARTUP_SPREAD_PER_TARGET per target (at most STARTUP_SPREAD_MAX, at most
    the interval), in the order of the targets' offsets, so the first round is not a
    burst and still comes before the first frame."""
    spread = min(STARTUP_SPREAD_MAX, STARTUP_SPREAD_PER_TARGET * max(n_targets, 0), interval)
    return phase(name) * spread
