"""Pure logic of reading probe gates: windows cut into slices, latency histograms."""
import math
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks import latency_histogram as lh
from checks.models import SliceResult
from checks.probe_windows import (
    HOUR,
    MINUTE,
    SETTLE,
    ceil_to,
    combine,
    covered_by_masks,
    floor_to,
    granularity,
    live_slice,
    plan,
    settled_slices,
)

instants = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(timezone.utc))
windows = st.integers(min_value=16 * 60, max_value=40 * 86400).map(lambda s: timedelta(seconds=s))


def test_short_windows_read_raw_rows_and_long_ones_the_rollups():
    assert granularity(timedelta(minutes=5)) == "raw"
    assert granularity(timedelta(minutes=15)) == "raw"
    assert granularity(timedelta(hours=1)) == "minute"
    assert granularity(timedelta(hours=48)) == "minute"
    assert granularity(timedelta(days=7)) == "hour"


@settings(max_examples=300, deadline=None)
@given(now=instants, window=windows)
def test_settled_slices_cover_the_window_start_to_settled_exactly_once(now, window):
    p = plan(window, now)
    step = HOUR if p.granularity == "hour" else MINUTE
    # the window starts at the bucket holding now - window: never later, at most a bucket earlier
    assert p.start <= now - window < p.start + step
    assert p.start <= p.settled <= now - SETTLE or p.settled == p.start
    slices = sorted(settled_slices(p, ["a", "b"], 60, True), key=lambda s: s.lo)
    assert all(s.hi > s.lo for s in slices)
    if slices:
        assert slices[0].lo == p.start and slices[-1].hi == p.settled
        for a, b in zip(slices, slices[1:]):
            assert a.hi == b.lo  # contiguous, no overlap
    else:
        assert p.settled == p.start
    for s in slices:
        if s.source == "hour":  # whole hours only
            assert floor_to(s.lo, HOUR) == s.lo and floor_to(s.hi, HOUR) == s.hi
    if p.granularity == "minute":  # at most an hour of minute rows at each end
        minute_rows = sum((s.hi - s.lo) / MINUTE for s in slices if s.source == "minute")
        assert minute_rows <= 120
    live = live_slice(p, ["a", "b"], 60, True)
    assert live.lo == p.settled and live.hi is None


def test_floor_and_ceil_count_from_the_epoch():
    t = datetime(2026, 11, 25, 10, 17, 42, tzinfo=timezone.utc)
    assert floor_to(t, HOUR) == datetime(2026, 11, 25, 10, tzinfo=timezone.utc)
    assert ceil_to(t, HOUR) == datetime(2026, 11, 25, 11, tzinfo=timezone.utc)
    assert ceil_to(floor_to(t, MINUTE), MINUTE) == floor_to(t, MINUTE)


def test_coverage_from_hour_masks_counts_each_bucket_once():
    hour = datetime(2026, 11, 25, 10, tzinfo=timezone.utc)
    base = int(hour.timestamp())
    mask = (1 << 0) | (1 << 1) | (1 << 7) | (1 << 59)
    assert covered_by_masks([hour], [mask], 60) == {base, base + 60, base + 420, base + 3540}
    # 5-minute buckets: minutes 0 and 1 share one
    assert covered_by_masks([hour], [mask], 300) == {base, base + 300, base + 3300}
    assert covered_by_masks([hour, hour + HOUR], [1, 1], 3600) == {base, base + 3600}


def test_combined_slices_add_up_and_union_their_coverage():
    a = SliceResult(ok=90, total=100, histogram={10: 60, 20: 40}, covered=frozenset({0, 60}))
    b = SliceResult(ok=10, total=10, histogram={30: 10}, covered=frozenset({60, 120}))
    er = combine("error_rate", [a, b], raw=False, answered_ever=True)
    assert (er.value, er.detail, er.samples, er.buckets) == (pytest.approx(100 * 10 / 110), "10/110 failed", 110, 3)
    up = combine("uptime", [a, b], raw=False, answered_ever=True)
    assert up.value == pytest.approx(100 * 100 / 110) and up.detail == "100/110 ok"
    p95 = combine("p95_latency", [a, b], raw=False, answered_ever=True)
    # 110 samples: the 105th (nearest rank) is in bin 30
    assert p95.value == pytest.approx(lh.bin_value(30)) and p95.samples == 110
    none = combine("p95_latency", [SliceResult()], raw=False, answered_ever=True)
    assert none.value is None and none.detail == "no probe answered in window"
    assert combine("uptime", [SliceResult()], raw=False, answered_ever=False).detail == "no probes in window"


# -- latency histograms ---------------------------------------------------------------


def nearest_rank(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[max(1, math.ceil(q * len(s))) - 1]


latencies = st.floats(min_value=lh.FLOOR_MS * lh.RATIO, max_value=24 * 3600 * 1000.0, allow_nan=False)


@settings(max_examples=500, deadline=None)
@given(samples=st.lists(latencies, min_size=1, max_size=300), q=st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_a_quantile_from_the_histogram_is_within_the_stated_bound(samples, q):
    hist = lh.merge([{lh.bin_of(x): 1} for x in samples])
    exact = nearest_rank(samples, q)
    got = lh.quantile(hist, q)
    assert abs(got - exact) / exact <= lh.ERROR_BOUND + 1e-12
    assert lh.ERROR_BOUND <= 0.025


@given(samples=st.lists(st.floats(min_value=0, max_value=lh.FLOOR_MS * lh.RATIO), min_size=1, max_size=20))
def test_tiny_latencies_read_within_an_absolute_bound(samples):
    got = lh.quantile(lh.merge([{lh.bin_of(x): 1} for x in samples]), 0.95)
    assert abs(got - nearest_rank(samples, 0.95)) < 0.03


def test_bins_are_ordered_and_the_range_covers_a_day():
    xs = [0.0, 0.01, 0.05, 0.06, 1.0, 1.05, 200.0, 500.0, 86_400_000.0]
    bins = [lh.bin_of(x) for x in xs]
    assert bins == sorted(bins)
    assert lh.bin_of(86_400_000.0) < lh.BINS - 1  # a 24 h timeout's latency still has its own bin
    assert lh.bin_of(float("nan")) == 0 and lh.quantile({}, 0.95) is None
