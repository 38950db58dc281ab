"""Sustained-breach detection for auto-rollback: a breach counts only when it held
across at least `consecutive` evaluations in a row *and* over the whole `sustain`
window, so one spike at 3 a.m. never rolls back."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .models import Band, BreachRun


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


@dataclass(frozen=True)
class Assessment:
    """What auto-rollback sees in the recorded evaluations: each watched gate's
    current run of red evaluations, and the first gate whose run is a sustained
    breach (with the values of its run), if any."""

    runs: tuple[BreachRun, ...]
    firing: str | None = None
    firing_values: tuple[float | None, ...] = ()


def assess(
    series: Mapping[str, Sequence[tuple[datetime, float | None, str]]],
    gates: Sequence[str],
    *,
    now: datetime,
    sustain: timedelta,
    consecutive: int,
    max_gap: timedelta,
) -> Assessment:
    """Judge the recorded evaluations (per gate: (at, value, band), oldest first) of
    the gates auto-rollback watches. Only a red band is a breach; missing data never is."""
    runs = []
    firing: str | None = None
    values: tuple[float | None, ...] = ()
    for name in gates:
        points = series.get(name, [])
        evaluations = [(at, band == Band.RED.value) for at, _, band in points]
        start, n = breach_run(evaluations, max_gap)
        if start is not None:
            runs.append(BreachRun(gate=name, seconds=(now - start).total_seconds(), evaluations=n))
        if firing is None and sustained_breach(evaluations, now=now, sustain=sustain,
                                               consecutive=consecutive, max_gap=max_gap):
            firing, values = name, tuple(v for _, v, _ in points[-n:])
    return Assessment(tuple(runs), firing, values)
