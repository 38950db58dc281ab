"""Durations as gonogo shows them: `2d 03h`, `3h 12m`, `4m 05s`, `9s`.

The one spelling of every duration on screen, in the CLI and in reasons: a soak's time
left, a countdown, how old a reading is, how much of a window has data, how long a
gate has been red. The largest unit that is not zero comes first, as it is; each
smaller one follows in two digits, so a number's place tells its unit at a glance.

Narrow panels need short text, so this is not `humanize` ("2 days, 3 hours"), whose
wordings also cannot keep a ticking countdown to one width. The config's own spelling
("500ms", "15s", "5m", the parser's inverse, for echoing what was configured) is
`console.durations.format_duration`, not this.
"""
from __future__ import annotations

import math
from datetime import timedelta

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def duration_text(seconds: float | timedelta, *, units: int = 2, fixed: bool = False) -> str:
    """`seconds` (a number or a timedelta) as `3h 12m`.

    `units`: how many units at most, counted from the largest that is not zero:
    1 gives `7d`, 2 `7d 03h`, 4 `7d 03h 14m 05s`. Whole seconds, cut down, never
    rounded up (a countdown never shows a second that has not come, nor a soak less
    time left than it has). Below zero reads as `0s`; a value that is not a number
    as `?`.

    `fixed`: keep the smaller units that are zero (`3h 00m`), for a clock that ticks
    and must keep its width; otherwise they are left off (`3h`, `5m`), as a
    configured duration is read.
    """
    s = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
    if not math.isfinite(s):
        return "?"
    left = max(0, math.floor(round(s, 3)))  # float noise (7199.999999) is not a second less
    parts: list[tuple[int, str]] = []
    for unit, size in _UNITS:
        n, left = divmod(left, size)
        if n or parts or size == 1:  # from the largest unit that is not zero (seconds at least)
            parts.append((n, unit))
    shown = parts[: max(1, units)]
    if not fixed:
        while len(shown) > 1 and shown[-1][0] == 0:
            shown.pop()
    return " ".join(f"{n}{unit}" if i == 0 else f"{n:02d}{unit}" for i, (n, unit) in enumerate(shown))
