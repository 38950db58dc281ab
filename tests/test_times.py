"""The one spelling of a time on screen: one zone, always written."""
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.times import time_text, zone_named

AT = datetime(2026, 11, 25, 3, 12, 9, tzinfo=timezone.utc)


@pytest.mark.parametrize("zone, kw, shown", [
    ("UTC", {}, "03:12:09 UTC"),
    ("UTC", {"date": True}, "2026-11-25 03:12:09 UTC"),
    ("UTC", {"seconds": False}, "03:12 UTC"),
    ("Europe/Berlin", {}, "04:12:09 CET"),
    ("America/New_York", {"date": True}, "2026-11-24 22:12:09 EST"),
    ("Asia/Kolkata", {}, "08:42:09 IST"),
    ("Asia/Dubai", {}, "07:12:09 +04:00"),  # the zone database has only an offset for it
])
def test_a_time_is_shown_in_the_zone_with_the_zone_written(zone, kw, shown):
    assert time_text(AT, zone_named(zone), **kw) == shown


def test_summer_time_is_the_zones_at_that_moment():
    assert time_text(AT.replace(month=7), zone_named("Europe/Berlin")) == "05:12:09 CEST"


def test_a_naive_time_is_utc():
    assert time_text(AT.replace(tzinfo=None), zone_named("UTC")) == "03:12:09 UTC"


def test_empty_is_the_machines_zone_and_a_bad_name_is_refused_by_name():
    assert zone_named("").utcoffset(AT) == AT.astimezone().utcoffset()
    with pytest.raises(ValueError, match="'Mars/Olympus' is not a time zone"):
        zone_named("Mars/Olympus")
    with pytest.raises(ValueError, match="is not a time zone"):
        zone_named("../../etc/passwd")


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 1, 1), timezones=st.just(timezone.utc)),
       st.sampled_from(["UTC", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kathmandu"]))
def test_the_shown_time_reads_back_to_the_same_minute(at, name):
    zone = zone_named(name)
    text = time_text(at, zone, date=True)
    shown = datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S")
    back = at.astimezone(zone).replace(tzinfo=None)
    assert shown == back.replace(microsecond=0)
    assert abs(back - shown) < timedelta(seconds=1)


def test_clock_ticks_are_round_times_in_the_zone():
    from checks.times import clock_ticks

    utc = zone_named("UTC")
    hour = clock_ticks(datetime(2026, 11, 25, 2, 13, 40, tzinfo=timezone.utc),
                       datetime(2026, 11, 25, 3, 13, 40, tzinfo=timezone.utc), utc)
    assert [label for _, label in hour] == ["02:15", "02:30", "02:45", "03:00"]
    day = clock_ticks(datetime(2026, 11, 24, 3, 10, tzinfo=timezone.utc), datetime(2026, 11, 25, 3, 10, tzinfo=timezone.utc), utc)
    assert [label for _, label in day] == ["06:00", "12:00", "18:00", "00:00"]
    week = clock_ticks(datetime(2026, 11, 18, 3, 10, tzinfo=timezone.utc), datetime(2026, 11, 25, 3, 10, tzinfo=timezone.utc), utc)
    assert [label for _, label in week] == ["Thu 19", "Sat 21", "Mon 23", "Wed 25"]
    berlin = clock_ticks(datetime(2026, 11, 24, 3, 10, tzinfo=timezone.utc), datetime(2026, 11, 25, 3, 10, tzinfo=timezone.utc),
                         zone_named("Europe/Berlin"))
    assert [label for _, label in berlin] == ["06:00", "12:00", "18:00", "00:00"]  # Berlin's round hours
    assert berlin[0][0] == datetime(2026, 11, 24, 5, 0, tzinfo=timezone.utc)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)),
       st.sampled_from([timedelta(minutes=5), timedelta(hours=1), timedelta(hours=24), timedelta(days=7)]),
       st.integers(min_value=2, max_value=12))
def test_clock_ticks_lie_inside_the_span_evenly_and_are_few(start, span, most):
    from checks.times import clock_ticks

    ticks = clock_ticks(start, start + span, zone_named("UTC"), most)
    assert len(ticks) <= most
    assert all(start <= at <= start + span for at, _ in ticks)
    gaps = {(b - a) for (a, _), (b, _) in zip(ticks, ticks[1:])}
    assert len(gaps) <= 1
