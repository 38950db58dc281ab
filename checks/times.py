"""Times as gonogo shows them: in one zone, and always with it written
(`03:12:09 UTC`, `2026-11-25 04:12 CET`), so a time on screen, in the CLI or in a
report is never read in the wrong zone at 3 a.m.

The zone is `[console] timezone` (the machine's by default), one key away from UTC
on screen. Durations are `checks.durations`.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone_named(name: str) -> tzinfo:
    """The zone a config names: "" for the machine's own, "UTC", or an IANA name
    ("Europe/Berlin"). Raises ValueError with the name when there is no such zone."""
    if not name:
        return local_zone()
    if name.upper() in ("UTC", "Z"):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a time zone; use an IANA name like \"Europe/Berlin\", \"UTC\","
                         " or \"\" for this machine's") from None


def local_zone() -> tzinfo:
    """The machine's zone now (its offset and abbreviation, e.g. CET)."""
    return datetime.now().astimezone().tzinfo or timezone.utc


def time_text(at: datetime, zone: tzinfo, *, date: bool = False, seconds: bool = True) -> str:
    """`at` in `zone`, with the zone written: `03:12:09 UTC`; with `date`,
    `2026-11-25 03:12:09 UTC`. A naive `at` is taken as UTC (the database's and
    the engine's clocks are UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    local = at.astimezone(zone)
    shown = local.strftime(("%Y-%m-%d " if date else "") + ("%H:%M:%S" if seconds else "%H:%M"))
    return f"{shown} {zone_label(local)}"


def zone_label(local: datetime) -> str:
    """The zone's abbreviation (`UTC`, `CET`), or its offset (`+05:30`) where the
    zone database has only a number for it."""
    name = local.tzname() or ""
    if name and not name.startswith(("+", "-")):
        return name
    offset = local.strftime("%z")  # +0530
    return f"{offset[:3]}:{offset[3:]}" if offset else "UTC"


# Round steps for a clock axis, smallest first: the first that gives at most
# `max_ticks` ticks over the span is used.
_TICK_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 345600, 604800)


def clock_ticks(start: datetime, end: datetime, zone: tzinfo, max_ticks: int = 6) -> list[tuple[datetime, str]]:
    """Ticks for a time axis from `start` to `end`, at round clock times in `zone`
    (every 5 minutes on the 5, every 6 hours at 00/06/12/18, every day at midnight):
    each with its label, `HH:MM` within a day and `Mon 25` (or `25 Nov` on a
    week's axis) at a day's step."""
    span = (end - start).total_seconds()
    if span <= 0 or max_ticks < 1:
        return []
    step = next((s for s in _TICK_STEPS if span // s + 1 <= max_ticks), _TICK_STEPS[-1])
    local = start.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    ticks = []
    if step >= 86400:  # whole days, counted in the zone's dates (a summer-time day is 23 or 25 hours)
        days = step // 86400
        day = midnight.date() if local == midnight else midnight.date() + timedelta(days=1)
        while (at := datetime.combine(day, time(0), tzinfo=zone)) <= end:
            ticks.append((at, at.strftime("%a %d")))
            day += timedelta(days=days)
        return ticks
    # The first round time at or after start, counted on the zone's wall clock.
    since = (local - midnight).total_seconds()
    t = midnight.timestamp() + -(-since // step) * step
    while t <= end.timestamp():
        at = datetime.fromtimestamp(t, tz=zone)
        ticks.append((at, at.strftime("%H:%M")))
        t += step
    return ticks
