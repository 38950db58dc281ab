"""Enough data, or UNKNOWN: how much of a gate's window its samples cover.

A windowed gate judged from whatever data exists lies: a fresh database would read
GO after two probes, and "uptime 7d" computed from 30 probes of one afternoon is not
a week's uptime. So a windowed gate's window is cut into buckets (a minute, or an
hour past two days, never finer than the probe interval) and coverage is the share
of buckets that hold at least one sample: a fresh database covers little, and a gap
in the middle of the window shows as much as one at its start. Below the minimum the
gate is UNKNOWN, which holds, and says how much it had: `2h of 7d`."""
from __future__ import annotations

import math
from datetime import timedelta

from .durations import duration_text
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
    """`2h of 7d (30 samples)`, `5d 02h of 7d (780 samples)`."""
    return f"{duration_text(cov.covered_seconds)} of {duration_text(cov.window_seconds)} ({cov.samples} samples)"


def enough(cov: Coverage, min_fraction: float, min_samples: int) -> bool:
    return cov.fraction >= min_fraction and cov.samples >= min_samples

