"""The burn-in's clean days: judged from each day's uptime, newest first."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta


def count_clean_days(days: Sequence[tuple[datetime, float]], threshold: float) -> int:
    """Consecutive clean days, newest first: a day is clean when its uptime meets the
    threshold. Today (partial) counts when clean so far; a gap day breaks the run."""
    n = 0
    prev_day = None
    for day, uptime in days:
        if prev_day is not None and (prev_day - day) > timedelta(days=1, hours=1):
            break
        if uptime < threshold:
            break
        n += 1
        prev_day = day
    return n
