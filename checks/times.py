"""Times as gonogo shows them: in one zone, and always with it written
(`03:12:09 UTC`, `2026-11-25 04:12 CET`), so a time on screen, in the CLI or in a
report is never read in the wrong zone at 3 a.m.

The zone is `[console] timezone` (the machine's by default), one key away from UTC
on screen. Durations are `checks.durations`.
"""
from __future__ import annotations

import os
from datetime import datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone_named(name: str) -> tzinfo:
    """The zone a config names: "" or "local" for the machine's own, "UTC", or an IANA name
    ("Europe/Berlin"). Raises ValueError with the name when there is no such zone."""
    if not name or name.lower() == "local":
        return local_zone()
    if name.upper() in ("UTC", "Z"):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a time zone; use an IANA name like \"Europe/Berlin\", \"UTC\","
                         " or \"\" for this machine's") from None


def local_zone() -> tzinfo:
    """The machine's zone: by its name where the machine gives one ($TZ, or the
    /etc/localtime link), so a console left running over a change to summer time
    follows it; else the offset and abbreviation it has now."""
    for name in (os.environ.get("TZ", "").removeprefix(":"), _linked_zone()):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                pass
    return datetime.now().astimezone().tzinfo or timezone.utc


def _linked_zone() -> str:
    target = os.path.realpath("/etc/localtime")
    return target.split("/zoneinfo/", 1)[1] if "/zoneinfo/" in target else ""


def time_text(at: datetime, zone: tzinfo, *, date: bool = False, seconds: bool = True, weekday: bool = False) -> str:
    """`at` in `zone`, with the zone written: `03:12:09 UTC`; with `date`,
    `2026-11-25 03:12:09 UTC`; with `weekday`, `Thu 03:12:09 UTC` (a deadline within
    the week). A naive `at` is taken as UTC (the database's and the engine's clocks
    are UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    local = at.astimezone(zone)
    day = "%Y-%m-%d " if date else "%a " if weekday else ""
    shown = local.strftime(day + ("%H:%M:%S" if seconds else "%H:%M"))
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


# The history chart's windows: how far back each looks, and the bucket the database
# folds a gate's recorded evaluations into for it (Store.gate_trend; the 1 h window
# is the engine's own trend, one point per recorded evaluation). A week at an hour a
# bucket is 168 points, a day at 15 minutes 96: what a chart of any width can show.
CHART_WINDOWS: dict[str, tuple[timedelta, timedelta]] = {
    "1h": (timedelta(hours=1), timedelta(minutes=1)),
    "24h": (timedelta(hours=24), timedelta(minutes=15)),
    "7d": (timedelta(days=7), timedelta(hours=1)),
}
WINDOW_WORDS = {"1h": "last 1 h", "24h": "last 24 h", "7d": "last 7 d"}
MAX_MARKERS = 50  # more actions than this in one window: the newest are marked


def zone_name(zone: tzinfo, at: datetime) -> str:
    """What a chart's title calls the zone at `at`: `UTC`, `CET`, `+05:30`."""
    return zone_label(at.astimezone(zone))


def marker_label(action: str, to_pct: int, automatic: bool = False) -> str:
    """A rollout action as a chart marks it: `↑10%` (advance), `⟲0% auto` (an
    automatic rollback), `‖hold`, `▶resume`."""
    shown = {"advance": f"↑{to_pct}%", "rollback": f"⟲{to_pct}%", "hold": "‖hold", "resume": "▶resume"}
    return shown.get(action, action) + (" auto" if automatic else "")


def markers_in_window(events, start: datetime, end: datetime,
                      limit: int = MAX_MARKERS) -> list[tuple[datetime, str]]:
    """The rollout's actions (`AuditEvent`s, or anything with `at`, `action`, `to_pct`,
    `automatic`) between `start` and `end`, oldest first, each with its label; past
    `limit`, the newest."""
    inside = sorted((e for e in events if start <= _aware(e.at) <= end), key=lambda e: e.at)
    return [(_aware(e.at), marker_label(e.action, e.to_pct, e.automatic)) for e in inside[-limit:]] if limit > 0 else []


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)
