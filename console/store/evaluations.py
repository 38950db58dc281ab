"""The gate evaluations: each evaluation's readings recorded, and read back as a
gate's series or its trend folded into buckets by the database (the chart, the
review's evidence, the report)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from checks.models import GateReading


class EvaluationTables:
    """The gate evaluations of the Store (mixed into console.store.db.Store)."""

    async def record_evaluations(self, at: datetime, readings: Sequence[GateReading]) -> None:
        # db.py mixes this family into the Store, so its names are imported when called.
        from .db import pg_text

        async with self.connection() as conn:
            async with conn.cursor() as cur:
                # What each value was judged over goes with it (migration 12): a report
                # for a past moment reads it back from here alone.
                await cur.executemany(
                    "insert into gonogo.gate_evaluations"
                    " (at, gate, value, band, gate_window, unit, window_s, covered_s, samples, detail)"
                    " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
                    [(at, r.name, r.value, r.band.value, r.window, r.unit,
                      r.coverage.window_seconds if r.coverage else None,
                      r.coverage.covered_seconds if r.coverage else None,
                      r.coverage.samples if r.coverage else None, pg_text(r.detail)) for r in readings],
                )

    async def gate_series(
        self, since: datetime, gates: Sequence[str] | None = None
    ) -> dict[str, list[tuple[datetime, float | None, str]]]:
        """Recorded evaluations since `since`, per gate, oldest first."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "select gate, at, value, band from gonogo.gate_evaluations"
                " where at > %s and (%s::text[] is null or gate = any(%s)) order by gate, at",
                (since, list(gates) if gates is not None else None, list(gates) if gates is not None else None),
            )
            out: dict[str, list] = {}
            for gate, at, value, band in await cur.fetchall():
                out.setdefault(gate, []).append((at, value, band))
            return out

    async def gate_trend(
        self, gate: str, since: datetime, bucket: timedelta, until: datetime | None = None
    ) -> list[tuple[datetime, float | None, float | None]]:
        """A gate's recorded values since `since` (and up to `until`, inclusive: a
        report for a past moment), one row per `bucket` (start, lowest, highest),
        oldest first: a week of 15-second evaluations is ~700 points at a
        15-minute bucket, aggregated by the database. The lowest and the highest are
        both kept so a chart can draw the worst of each bucket: a spike is not
        averaged away."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "select date_bin(%s, at, timestamptz '1970-01-01 00:00:00+00') as b, min(value), max(value)"
                " from gonogo.gate_evaluations where at > %s and gate = %s"
                " and (%s::timestamptz is null or at <= %s) group by b order by b",
                (bucket, since, gate, until, until),
            )
            return [(b, lo, hi) for b, lo, hi in await cur.fetchall()]
