"""Durations as people write them in config: "500ms", "15s", "5m", "12h", "7d"."""
from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: object) -> timedelta:
    if not isinstance(text, str):
        raise ValueError(f"a duration must be a string like \"15s\", not {text!r}")
    if text.strip().startswith("-"):
        raise ValueError(f"{text!r}: a duration cannot be negative")
    m = _DURATION.match(text)
    if not m:
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit: \"500ms\", \"15s\", \"5m\", \"12h\", \"7d\""
        )
    seconds = float(m.group(1)) * _UNIT[m.group(2)]
    if seconds <= 0:
        raise ValueError(f"{text!r}: a duration must be more than zero")
    return timedelta(seconds=seconds)


def format_duration(td: timedelta) -> str:
    """The shortest config spelling of a duration (used when echoing config)."""
    s = td.total_seconds()
    for unit in ("d", "h", "m", "s"):
        if s >= _UNIT[unit] and s % _UNIT[unit] == 0:
            return f"{int(s // _UNIT[unit])}{unit}"
    return f"{int(round(s * 1000))}ms"
