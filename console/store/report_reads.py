"""The reads of the go/no-go report (console/report/): what the database held at a
moment T, never what came after. Each read is bounded by T, so a report for T is
the same report however many rows are written later.

The report reads inside `as_of_one_moment(store)`: one read-only, repeatable-read
transaction, so its sections agree with each other even while a leader writes.
They write nothing."""
from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from checks.models import ROLLOUT_ACTIONS, AuditEvent


@contextlib.asynccontextmanager
async def as_of_one_moment(store):
    """Every read of the store inside runs on one connection, in one read-only,
    repeatable-read transaction (one view of the database for the whole report)."""
    async with store.session():
        async with store.connection() as conn:
            async with conn.transaction():
                await conn.execute("set transaction isolation level repeatable read, read only")
                yield


class RecordedEvaluation(NamedTuple):
    """A gate's newest recorded evaluation at or before T. `window` is None in rows
    written before migration 12 (nothing said what they were judged over)."""

    gate: str
    at: datetime
    value: float | None
    band: str
    window: str | None
    unit: str | None
    window_s: float | None
    covered_s: float | None
    samples: int | None
    detail: str


async def evaluations_at(store, gates: Sequence[str], at: datetime) -> dict[str, RecordedEvaluation]:
    """Each gate's newest evaluation at or before `at`: one backward step along the
    (gate, at) key per gate, however long the table."""
    async with store.connection() as conn:
        cur = await conn.execute(
            "select g.name, e.at, e.value, e.band, e.gate_window, e.unit, e.window_s, e.covered_s, e.samples,"
            " coalesce(e.detail, '')"
            " from unnest(%s::text[]) as g(name) cross join lateral ("
            "  select * from gonogo.gate_evaluations where gate = g.name and at <= %s order by at desc limit 1"
            " ) e",
            (list(gates), at),
        )
        return {row[0]: RecordedEvaluation(*row) for row in await cur.fetchall()}


async def rollout_events_until(store, flag: str, at: datetime) -> list[AuditEvent]:
    """The rollout's actions (DESIGN.md's four; reviews have their own read) at or
    before `at`, oldest first."""
    async with store.connection() as conn:
        cur = await conn.execute(
            "select at, operator, action, from_pct, to_pct, reason, automatic, override, verdict"
            " from gonogo.rollout_events where flag = %s and at <= %s and action = any(%s) order by id",
            (flag, at, list(ROLLOUT_ACTIONS)),
        )
        return [AuditEvent(at=a, operator=op, action=act, from_pct=f, to_pct=t, reason=reason, automatic=auto,
                           override=ovr, verdict=verdict)
                for a, op, act, f, t, reason, auto, ovr, verdict in await cur.fetchall()]


class AlertAsOf(NamedTuple):
    """An alert's episode as it stood at T: what happened after T (its end, an
    acknowledgement) is not known at T, so it is None here."""

    source: str
    severity: str
    name: str
    summary: str
    first_at: datetime
    last_at: datetime | None  # when it was last seen firing: its end; None: still firing at T
    resolved_at: datetime | None
    acked_at: datetime | None
    acked_by: str


async def alerts_in(store, start: datetime, at: datetime, limit: int) -> tuple[list[AlertAsOf], int]:
    """The alert episodes open at some time in [start, at] (gonogo.alert_episodes,
    migration 13): begun and seen by the database at or before `at`, not ended
    before `start`, oldest first, with the text each began with; at most `limit`,
    with how many there were. An episode begun after `at` is not there, so an alert
    raised again after T, or turned critical after T, reads at T as it did at T."""
    async with store.connection() as conn:
        cur = await conn.execute(
            "select source, severity, name, summary, first_at,"
            " case when resolved_at <= %(at)s then resolved_at end,"
            " case when resolved_at <= %(at)s then resolved_at end,"
            " case when acked_at <= %(at)s then acked_at end,"
            " case when acked_at <= %(at)s then coalesce(acked_by, '') else '' end,"
            " count(*) over ()"
            " from gonogo.alert_episodes"
            " where first_at <= %(at)s and seen_at <= %(at)s and (resolved_at is null or resolved_at >= %(start)s)"
            " order by first_at, id limit %(limit)s",
            {"at": at, "start": start, "limit": limit},
        )
        rows = await cur.fetchall()
    return [AlertAsOf(*row[:-1]) for row in rows], (rows[0][-1] if rows else 0)


async def daily_uptime_until(store, since: datetime, at: datetime) -> list[tuple[datetime, float]]:
    """Uptime per UTC day from `since`, counting the hours that ended by `at`, newest
    first (checks.burn_in.count_clean_days reads it so): the shape of
    Store.daily_uptime, bounded by T."""
    async with store.connection() as conn:
        cur = await conn.execute(
            "select date_trunc('day', bucket at time zone 'UTC') as day, 100.0 * sum(ok) / nullif(sum(total), 0)"
            " from gonogo.probe_hour where bucket >= %s and bucket + interval '1 hour' <= %s"
            " group by 1 order by 1 desc",
            (since, at),
        )
        return [(d, float(u) if u is not None else 0.0) for d, u in await cur.fetchall()]
