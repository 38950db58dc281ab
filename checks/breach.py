"""Sustained-breach detection for auto-rollback: a breach counts only when it held
across at least `consecutive` evaluations in a row *and* over the whole `sustain`
window, so one spike at 3 a.m. never rolls back."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta


def sustained_breach(
    evaluations: Sequence[tuple[datetime, bool]],
    *,
    now: datetime,
    sustain: timedelta,
    consecutive: int,
) -> bool:
    """`evaluations` are (time, breached) pairs, oldest first. True when the newest
    `consecutive` or more are all breached and the unbroken run of breaches began at
    least `sustain` before `now`, with an evaluation at or before that point."""
    run_start: datetime | None = None
    run_len = 0
    for at, breached in evaluations:
        if breached:
            if run_len == 0:
                run_start = at
            run_len += 1
        else:
            run_len, run_start = 0, None
    if run_len < consecutive or run_start is None:
        return False
    return now - run_start >= sustain
