"""Enough data, or UNKNOWN: how much of a gate's window its samples cover.

A windowed gate judged from whatever data exists lies: a fresh database would read
GO after two probes, and "uptime 7d" computed from 30 probes of one afternoon is not
a week's uptime. So a windowed gate's window is cut into buckets (a minute, or an
hour past two days, never finer than the probe interval) and coverage is the share
of buckets that hold at least one sample: a fresh database covers little, and a gap
in the middle of the window shows as much as one at its start. Below the minimum the
gate is UNKNOWN, which holds, and says how much it had: `2 h of 7 d`."""
from __future__ import annotations

import math
from datetime import timedelta

from .models import Coverage

LONG_WINDOW = timedelta(hours=48)  # past this, coverage is counted in hours (the hour rollup)


def bucket_for(window: timedelta, interval: timedelta) -> timedelta:
    """The bucket that coverage is counted in: a minute (an hour past two days), and
    never finer than the longest probe interval, so a probe every 15 s fills each one."""
    base = timedelta(hours=1) if window > LONG_WINDOW else timedelta(minutes=1)
    return max(base, interval)


def coverage(window: timedelta, bucket: timedelta, buckets_with_data: int, samples: int) -> Coverage:
    expected = max(1, math.ceil(window / bucket))
    covered = min(buckets_with_data, expected) / expected * window.total_seconds()
    return Coverage(window_seconds=window.total_seconds(), covered_seconds=covered, samples=samples)


def describe(cov: Coverage) -> str:
    """`2 h of 7 d (30 samples)`."""
    return f"{span(cov.covered_seconds)} of {span(cov.window_seconds)} ({cov.samples} samples)"


def enough(cov: Coverage, min_fraction: float, min_samples: int) -> bool:
    return cov.fraction >= min_fraction and cov.samples >= min_samples


def span(seconds: float) -> str:
    """A duration in its largest whole unit, as a window is read: `7 d`, `2 h`, `4 m`, `30 s`."""
    s = max(0.0, seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if s >= size:
            n = s / size
            return f"{n:.0f} {unit}" if n >= 10 or n == int(n) else f"{n:.1f} {unit}"
    return f"{s:.0f} s"
