"""Durations as people write them in config: "500ms", "15s", "5m", "12h", "7d".

A duration is always a string with a unit: a bare number (`15`) is refused rather
than guessed at, because 15 seconds and 15 minutes are both plausible. Zero and
negative durations are refused too: every duration in the config is a window, an
interval, a timeout or a soak, and none of those can be empty.
"""
from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_FORMS = '"500ms", "15s", "5m", "12h", "7d"'


class DurationTooLong(ValueError):
    """More than a timedelta holds (999 999 999 days); the config names its own,
    much smaller, bound instead."""


def parse_duration(text: object) -> timedelta:
    """`"15s"` → `timedelta(seconds=15)`; raises ValueError with a message meant for
    the person who wrote the config. A `timedelta` (from code, not from a file) is
    accepted as it is, if it is more than zero."""
    if isinstance(text, timedelta):
        if text <= timedelta(0):
            raise ValueError(f"{text}: a duration must be more than zero")
        return text
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"a duration must be a string like {_FORMS}, not {text!r}")
    if not isinstance(text, str):
        raise ValueError(
            f"{text!r} has no unit; a duration is a string with one, "
            f'like "{text}s" or "{text}m" ({_FORMS})'
        )
    if text.strip().startswith("-"):
        raise ValueError(f"{text!r}: a duration cannot be negative")
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration; write a number and a unit: {_FORMS}")
    seconds = float(m.group(1)) * _UNIT[m.group(2)]
    if seconds <= 0:
        raise ValueError(f"{text!r}: a duration must be more than zero")
    try:
        td = timedelta(seconds=seconds)
    except OverflowError:
        raise DurationTooLong(f"{text!r} is too long for a duration (at most 999999999 days)") from None
    if td <= timedelta(0):  # below a microsecond: rounds to nothing
        raise ValueError(f"{text!r}: a duration must be at least 1ms")
    return td


def format_duration(td: timedelta) -> str:
    """The shortest config spelling of a duration (used when echoing config)."""
    s = td.total_seconds()
    for unit in ("d", "h", "m", "s"):
        if s >= _UNIT[unit] and s % _UNIT[unit] == 0:
            return f"{int(s // _UNIT[unit])}{unit}"
    return f"{int(round(s * 1000))}ms"
