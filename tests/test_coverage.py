"""Coverage judged as a pure function (checks.coverage)."""
from datetime import timedelta as td

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.coverage import bucket_for, coverage, describe, enough


def test_buckets_are_minutes_hours_past_two_days_and_never_finer_than_the_probe_interval():
    assert bucket_for(td(minutes=5), td(seconds=1)) == td(minutes=1)
    assert bucket_for(td(minutes=5), td(minutes=2)) == td(minutes=2)
    assert bucket_for(td(days=7), td(seconds=15)) == td(hours=1)


def test_two_hours_of_a_week_is_not_enough_and_says_so():
    cov = coverage(td(days=7), td(hours=1), buckets_with_data=2, samples=30)
    assert describe(cov) == "2h of 7d (30 samples)"
    assert not enough(cov, 0.8, 5)
    full = coverage(td(days=7), td(hours=1), buckets_with_data=169, samples=10_000)
    assert full.fraction == 1.0 and enough(full, 0.8, 5)


def test_too_few_samples_is_not_enough_even_when_every_bucket_has_one():
    assert not enough(coverage(td(minutes=5), td(minutes=1), 5, 4), 0.8, 5)


@pytest.mark.parametrize("window, buckets, text", [
    (td(minutes=5), 1, "1m of 5m"), (td(minutes=5), 5, "5m of 5m"), (td(hours=1), 30, "30m of 1h"),
    (td(days=7), 122, "5d 02h of 7d"), (td(days=7), 167, "6d 23h of 7d"),
])
def test_a_window_and_its_cover_read_as_durations_are_shown(window, buckets, text):
    assert describe(coverage(window, bucket_for(window, td(seconds=15)), buckets, 9)) == f"{text} (9 samples)"


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=10**6),
       st.sampled_from([td(minutes=1), td(minutes=5), td(hours=24), td(days=7)]))
def test_coverage_is_a_share_between_0_and_1(buckets, samples, window):
    cov = coverage(window, bucket_for(window, td(seconds=15)), buckets, samples)
    assert 0.0 <= cov.fraction <= 1.0 and cov.covered_seconds <= window.total_seconds()
