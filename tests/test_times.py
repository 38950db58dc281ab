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


def test_a_weekday_time_for_a_deadline_and_local_as_a_name():
    assert time_text(AT, zone_named("Asia/Kolkata"), weekday=True, seconds=False) == "Wed 08:42 IST"
    assert zone_named("local").utcoffset(AT) == zone_named("").utcoffset(AT)


def test_a_machine_zone_by_name_follows_summer_time(monkeypatch):
    import time

    from checks.times import local_zone

    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        zone = local_zone()
        assert time_text(AT, zone) == "04:12:09 CET"
        assert time_text(AT.replace(month=7), zone) == "05:12:09 CEST"  # not the offset it had at start
    finally:
        monkeypatch.undo()
        time.tzset()


def test_rollout_actions_are_marked_with_short_labels():
    from checks.times import marker_label

    assert marker_label("advance", 10) == "↑10%"
    assert marker_label("rollback", 0, automatic=True) == "⟲0% auto"
    assert marker_label("rollback", 0) == "⟲0%"
    assert marker_label("hold", 10) == "‖hold"
    assert marker_label("resume", 10) == "▶resume"


def _event(at, action="advance", to_pct=10, automatic=False):
    from checks.models import AuditEvent

    return AuditEvent(at=at, operator="alice", action=action, from_pct=5, to_pct=to_pct, reason="r", verdict="GO",
                      automatic=automatic)


def test_markers_are_the_actions_inside_the_window_oldest_first():
    from checks.times import markers_in_window

    start, end = AT - timedelta(hours=1), AT
    events = [_event(AT - timedelta(minutes=10), "rollback", 0, automatic=True),
              _event(AT - timedelta(hours=2)),  # before the window
              _event(AT - timedelta(minutes=50), to_pct=5),
              _event(AT + timedelta(minutes=1), to_pct=25)]  # after it
    assert markers_in_window(events, start, end) == [(AT - timedelta(minutes=50), "↑5%"),
                                                      (AT - timedelta(minutes=10), "⟲0% auto")]
    assert markers_in_window([], start, end) == []


def test_markers_past_the_limit_keep_the_newest():
    from checks.times import markers_in_window

    events = [_event(AT - timedelta(minutes=m), to_pct=m) for m in range(1, 31)]
    marks = markers_in_window(events, AT - timedelta(hours=1), AT, limit=5)
    assert [label for _, label in marks] == ["↑5%", "↑4%", "↑3%", "↑2%", "↑1%"]


def test_every_chart_window_folds_into_a_bounded_number_of_points():
    from checks.times import CHART_WINDOWS

    assert set(CHART_WINDOWS) == {"1h", "24h", "7d"}
    for span, bucket in CHART_WINDOWS.values():
        assert span / bucket <= 200
