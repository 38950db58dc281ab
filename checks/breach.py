"""Sustained-breach detection for auto-rollback: a breach counts only when it held
across at least `consecutive` evaluations in a row *and* over the whole `sustain`
window, so one spike at 3 a.m. never rolls back."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta


def breach_run(
    evaluations: Sequence[tuple[datetime, bool]], max_gap: timedelta | None = None
) -> tuple[datetime | None, int]:
    """The unbroken run of breaches at the end of `evaluations` (oldest first):
    when it began and how many evaluations it spans; (None, 0) when the last one
    was not a breach. A gap longer than `max_gap` between two evaluations (the
    database was away, the leader changed) breaks the run: nobody saw that time."""
    run_start: datetime | None = None
    run_len = 0
    prev_at: datetime | None = None
    for at, breached in evaluations:
        if max_gap is not None and prev_at is not None and at - prev_at > max_gap:
            run_len, run_start = 0, None
        prev_at = at
        if breached:
            if run_len == 0:
                run_start = at
            run_len += 1
        else:
            run_len, run_start = 0, None
    return run_start, run_len


def sustained_breach(
    evaluations: Sequence[tuple[datetime, bool]],
    *,
    now: datetime,
    sustain: timedelta,
    consecutive: int,
    max_gap: timedelta | None = None,
) -> bool:
    """True when the newest `consecutive` or more evaluations are all breaches and
    the unbroken run began at least `sustain` before `now`."""
    start, n = breach_run(evaluations, max_gap)
    if n < consecutive or start is None:
        return False
    return now - start >= sustain
