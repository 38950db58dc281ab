"""Which data answers a probe gate: its window cut into slices of the smallest tables
that hold it, and the slices' results put back together into one value.

- Windows up to SHORT_WINDOW read raw probe rows, exactly (p95 by percentile_cont).
- Longer windows read the rollups. Up to two days the window starts at the minute
  that holds `now − window` (so it reads at most a minute more than asked); past two
  days, at the hour that holds it (at most an hour more: 0.6 % of a week). Whole
  hours come from the hour rollup and the ragged ends from the minute rollup, so a
  24 h gate reads about 24 + 120 rows per target, not 1,440, and a 7-day gate 168.
- A rollup window is read in two parts: the *settled* part, which ends SETTLE before
  now at a bucket boundary and does not change until the next bucket (a caller
  caches it), and the *live* part after it, read at every evaluation: a few rows per
  target. A probe is written up to a probe timeout after it started; one written
  into the settled part (a buffer written back after an outage) moves the rollups'
  epoch, which tells the caller its cache is void.

Raw retention never cuts a long window short: long windows never read raw rows, and
coverage (checks.coverage) says how much of the window the rollups hold.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from . import latency_histogram
from .coverage import LONG_WINDOW
from .models import Granularity, SliceResult, WindowSlice

SHORT_WINDOW = timedelta(minutes=15)  # up to this, raw rows, exactly
SETTLE = timedelta(minutes=2)  # a bucket this far behind now takes no more probes, bar a late write-back
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def granularity(window: timedelta) -> Granularity:
    if window <= SHORT_WINDOW:
        return "raw"
    return "minute" if window <= LONG_WINDOW else "hour"


def floor_to(t: datetime, step: timedelta) -> datetime:
    """The start of the `step`-long bucket (counted from the Unix epoch) holding t."""
    return t - (t - EPOCH) % step


def ceil_to(t: datetime, step: timedelta) -> datetime:
    f = floor_to(t, step)
    return f if f == t else f + step


@dataclass(frozen=True)
class WindowPlan:
    """Where a rollup-read window starts, and where its settled part ends."""

    granularity: Granularity
    start: datetime
    settled: datetime  # [start, settled) is settled; [settled, now] is live


def plan(window: timedelta, now: datetime) -> WindowPlan:
    g = granularity(window)
    step = HOUR if g == "hour" else MINUTE
    start = floor_to(now - window, step)
    return WindowPlan(g, start, max(start, floor_to(now - SETTLE, step)))


def settled_slices(p: WindowPlan, targets: Sequence[str], bin_seconds: int, latency: bool) -> list[WindowSlice]:
    """The settled part: whole hours from the hour rollup, ragged ends from the minute
    rollup (hour-grained windows have none)."""
    common = dict(targets=tuple(targets), bin_seconds=bin_seconds, latency=latency)
    if p.settled <= p.start:
        return []
    if p.granularity == "hour":
        return [WindowSlice(source="hour", lo=p.start, hi=p.settled, **common)]
    h_lo, h_hi = ceil_to(p.start, HOUR), floor_to(p.settled, HOUR)
    if h_lo >= h_hi:
        return [WindowSlice(source="minute", lo=p.start, hi=p.settled, **common)]
    out = [WindowSlice(source="hour", lo=h_lo, hi=h_hi, minute_masks=True, **common)]
    if p.start < h_lo:
        out.append(WindowSlice(source="minute", lo=p.start, hi=h_lo, **common))
    if h_hi < p.settled:
        out.append(WindowSlice(source="minute", lo=h_hi, hi=p.settled, **common))
    return out


def live_slice(p: WindowPlan, targets: Sequence[str], bin_seconds: int, latency: bool) -> WindowSlice:
    source = "hour" if p.granularity == "hour" else "minute"
    return WindowSlice(source=source, lo=p.settled, targets=tuple(targets), bin_seconds=bin_seconds, latency=latency)


def raw_slice(window: timedelta, targets: Sequence[str], bin_seconds: int, latency: bool) -> WindowSlice:
    return WindowSlice(source="raw", window_seconds=window.total_seconds(), targets=tuple(targets),
                       bin_seconds=bin_seconds, latency=latency)


def covered_by_masks(hours: Sequence[datetime], masks: Sequence[int], bin_seconds: int) -> frozenset[int]:
    """Coverage buckets (starts, epoch seconds) holding a probe, from hour rows' masks of
    the minutes that held one (bit m: minute m of the hour)."""
    out = set()
    for hour, mask in zip(hours, masks):
        base = int((hour - EPOCH).total_seconds())
        m = int(mask) & ((1 << 60) - 1)
        while m:
            low = m & -m
            t = base + 60 * (low.bit_length() - 1)
            out.add(t - t % bin_seconds)
            m ^= low
    return frozenset(out)


@dataclass(frozen=True)
class WindowValue:
    """A probe gate's value over its window, before it is judged."""

    value: float | None
    detail: str
    samples: int
    buckets: int  # coverage buckets of the window holding a probe


def combine(metric: str, parts: Sequence[SliceResult], *, raw: bool, answered_ever: bool) -> WindowValue:
    """Put a window's slices back together. `raw`: the one slice is raw rows (exact);
    `answered_ever`: some target was ever probed (tells "no probe answered" from "no
    probes")."""
    ok = sum(r.ok for r in parts)
    total = sum(r.total for r in parts)
    buckets = parts[0].covered_count if raw else len(frozenset().union(*(r.covered for r in parts)))
    if metric == "p95_latency":
        if raw:
            buckets = parts[0].covered_latency_count
        if raw:
            n, p95 = parts[0].latency_samples, parts[0].exact_p95
        else:
            hist = latency_histogram.merge(r.histogram for r in parts)
            n, p95 = latency_histogram.count(hist), latency_histogram.quantile(hist, 0.95)
        if not n:
            none = "no probe answered in window" if answered_ever else "no probes in window"
            return WindowValue(None, none, 0, buckets)
        return WindowValue(float(p95), f"{n} probes", n, buckets)
    if not total:
        return WindowValue(None, "no probes in window", 0, 0)
    failed = total - ok
    if metric == "error_rate":
        return WindowValue(100.0 * failed / total, f"{failed}/{total} failed", total, buckets)
    return WindowValue(100.0 * ok / total, f"{ok}/{total} ok", total, buckets)
