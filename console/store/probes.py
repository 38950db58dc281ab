"""The probe tables: writing probe results, reading probe gates, pruning.

Raw rows feed the minute and hour rollups and their latency histograms through one
statement-level trigger (console/store/schema.py). A probe gate's window is cut into
slices (checks/probe_windows.py) and every slice of every gate is read in one
statement, with each target's latest probe and the rollups' epoch: one round trip
per evaluation, whatever the number of gates and targets.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from checks.models import LatestProbe, ProbeResult, SliceResult, WindowSlice
from checks.coverage import LONG_WINDOW
from checks.probe_windows import covered_by_masks

PRUNE_BATCH = 20_000  # rows per DELETE: well inside the statement timeout
RECENT_TARGETS = 200  # recent_probes: a detail screen reads at most this many targets ...
RECENT_PER_TARGET = 20  # ... and this many rows of each


@dataclass(frozen=True)
class ProbeRead:
    """One round trip's answer: each slice's result (in the order asked), each
    target's latest probe, and the rollups' epoch (see checks/probe_windows.py)."""

    slices: list[SliceResult]
    latest: dict[str, LatestProbe]
    epoch: int


# Every slice is one row of the recordset; a lateral subquery per source reads it.
# The `where s.source = ...` quals reference only the slice, so the planner turns them
# into one-time filters and a slice touches its own table alone; `having` drops the
# empty aggregate row the other sources would give. Each target's rows are found by its
# own (target, time) index range: a one-target gate reads its target's rows, not
# every target's filtered (measured: a quarter off the warm read at 10 M rows). Ranges
# end at 'infinity' rather than `or hi is null`, which would hide them from the index.
_READ = """
with s as (
    select * from jsonb_to_recordset(%(slices)s::jsonb) as s(
        id int, source text, targets text[], bin_s int, latency bool, window_s float8,
        lo timestamptz, hi timestamptz, masks bool)
), sliced as (
    select s.id, c.ok, c.total, c.exact_p95, c.n_lat, c.cov_n, c.cov_lat, c.cov, h.hist, m.hours, m.masks
    from s
    cross join lateral (
        select count(*) filter (where r.ok) as ok, count(*) as total,
               case when s.latency then percentile_cont(0.95) within group (order by r.latency_ms) end as exact_p95,
               count(r.latency_ms) as n_lat,
               count(distinct date_bin(make_interval(secs => s.bin_s), r.at, timestamptz 'epoch')) as cov_n,
               count(distinct date_bin(make_interval(secs => s.bin_s), r.at, timestamptz 'epoch'))
                   filter (where r.latency_ms is not null) as cov_lat,
               null::bigint[] as cov
        from unnest(s.targets) as tt(target)
        cross join lateral (
            select r.ok, r.at, r.latency_ms from gonogo.probe_results r
            where r.target = tt.target and r.at > now() - make_interval(secs => s.window_s)
        ) r
        where s.source = 'raw'
        having s.source = 'raw'
        union all
        select sum(m.ok), sum(m.total), null, null, null, null,
               array_agg(distinct extract(epoch from date_bin(make_interval(secs => s.bin_s), m.bucket, timestamptz 'epoch'))::bigint)
        from unnest(s.targets) as tt(target)
        cross join lateral (
            select * from gonogo.probe_minute x
            where x.target = tt.target and x.bucket >= s.lo and x.bucket < coalesce(s.hi, 'infinity')
        ) m
        where s.source = 'minute'
        having s.source = 'minute'
        union all
        select sum(h.ok), sum(h.total), null, null, null, null,
               case when not s.masks then
                   array_agg(distinct extract(epoch from date_bin(make_interval(secs => s.bin_s), h.bucket, timestamptz 'epoch'))::bigint)
                   filter (where h.total > 0) end
        from unnest(s.targets) as tt(target)
        cross join lateral (
            select * from gonogo.probe_hour x
            where x.target = tt.target and x.bucket >= s.lo and x.bucket < coalesce(s.hi, 'infinity')
        ) h
        where s.source = 'hour'
        having s.source = 'hour'
    ) c
    left join lateral (
        select jsonb_object_agg(x.bin, x.n) as hist from (
            select l.bin, sum(l.n) as n from unnest(s.targets) as tt(target)
            cross join lateral (
                select x.bin, x.n from gonogo.probe_minute_latency x
                where x.target = tt.target and x.bucket >= s.lo and x.bucket < coalesce(s.hi, 'infinity')
            ) l
            where s.latency and s.source = 'minute'
            group by l.bin
            union all
            select l.bin, sum(l.n) from unnest(s.targets) as tt(target)
            cross join lateral (
                select x.bin, x.n from gonogo.probe_hour_latency x
                where x.target = tt.target and x.bucket >= s.lo and x.bucket < coalesce(s.hi, 'infinity')
            ) l
            where s.latency and s.source = 'hour'
            group by l.bin
        ) x
    ) h on true
    left join lateral (
        select array_agg(y.hour order by y.hour) as hours, array_agg(y.mask order by y.hour) as masks from (
            select extract(epoch from h.bucket)::bigint as hour, bit_or(h.minutes) as mask
            from unnest(s.targets) as tt(target)
            cross join lateral (
                select x.bucket, x.minutes from gonogo.probe_hour x
                where x.target = tt.target and x.bucket >= s.lo and x.bucket < coalesce(s.hi, 'infinity')
            ) h
            where s.masks
            group by h.bucket
        ) y
    ) m on true
)
select 'slice', id, to_jsonb(sliced) - 'id' from sliced
union all
select 'latest', null, jsonb_build_object('target', t.target, 'at', l.at, 'ok', l.ok)
from unnest(%(targets)s::text[]) as t(target)
left join lateral (
    select r.at, r.ok from gonogo.probe_results r where r.target = t.target order by r.at desc limit 1
) l on true
union all
select 'epoch', null, to_jsonb(epoch) from gonogo.rollup_epoch
"""


def _slice_param(i: int, s: WindowSlice) -> dict:
    return {
        "id": i, "source": s.source, "targets": list(s.targets), "bin_s": int(s.bin_seconds),
        "latency": s.latency, "window_s": s.window_seconds, "masks": s.minute_masks,
        "lo": s.lo.isoformat() if s.lo else None, "hi": s.hi.isoformat() if s.hi else None,
    }


def _slice_result(s: WindowSlice, row: dict) -> SliceResult:
    if s.source == "raw":
        return SliceResult(ok=row["ok"] or 0, total=row["total"] or 0, exact_p95=row["exact_p95"],
                           latency_samples=row["n_lat"] or 0, covered_count=row["cov_n"] or 0,
                           covered_latency_count=row["cov_lat"] or 0)
    if s.minute_masks:
        hours = [datetime.fromtimestamp(h, timezone.utc) for h in row["hours"] or ()]
        covered = covered_by_masks(hours, row["masks"] or (), s.bin_seconds)
    else:
        covered = frozenset(row["cov"] or ())
    return SliceResult(ok=int(row["ok"] or 0), total=int(row["total"] or 0),
                       histogram={int(b): int(n) for b, n in (row["hist"] or {}).items()}, covered=covered)


@dataclass(frozen=True)
class FailedProbes:
    """The newest failed probes of some targets since a moment, newest first, and how
    many failed since then in all: the hourly rollup's count, which outlives the raw
    rows (kept `[database] retention`), so `total` may exceed what could be listed."""

    probes: list[ProbeResult]
    total: int


# The failed probes since the hour `since` falls in, newest first, without a scan of
# the period's raw rows (a week of mostly passing probes): the hourly rollup, each
# target's hours by its primary key, says which hours hold failures and how many; only
# the newest of those hours that together hold `limit` of them are read raw, each by
# the (target, at) index and a limit. The count is the rollup's, over every hour.
_FAILED = """
with h as (
    select x.target, x.bucket, x.total - x.ok as failed
    from unnest(%(targets)s::text[]) as t(target)
    cross join lateral (
        select y.target, y.bucket, y.total, y.ok from gonogo.probe_hour y
        where y.target = t.target and y.bucket >= date_bin('1 hour', %(since)s::timestamptz, timestamptz 'epoch')
    ) x
    where x.ok < x.total
), hours as (
    select bucket from (
        select bucket, sum(sum(failed)) over (order by bucket desc) - sum(failed) as before
        from h group by bucket
    ) b
    where before < %(limit)s
), listed as (
    select r.* from h join hours using (bucket)
    cross join lateral (
        select x.target, x.at, x.status, x.latency_ms, x.reason from gonogo.probe_results x
        where x.target = h.target and x.at >= h.bucket and x.at < h.bucket + interval '1 hour' and not x.ok
        order by x.at desc limit %(limit)s
    ) r
    order by r.at desc, r.target limit %(limit)s
)
select target, at, status, latency_ms, reason, null::bigint from listed
union all
select null, null, null, null, null, coalesce(sum(failed), 0) from h
"""


class ProbeTables:
    """The probe family of the Store (mixed into console.store.db.Store)."""

    async def insert_probes(self, results: Sequence[ProbeResult]) -> None:
        if not results:
            return
        async with self.connection() as conn:
            async with conn.cursor() as cur:
                # One statement so the rollup trigger runs once per batch. A probe is
                # (target, at): one written already (a batch retried after a commit whose
                # answer was lost, a buffer written back after a leader change) is skipped,
                # and the rollup trigger's transition table holds only the rows inserted.
                await cur.execute(
                    "insert into gonogo.probe_results (target, at, ok, status, latency_ms, reason)"
                    " select * from unnest(%s::text[], %s::timestamptz[], %s::bool[], %s::int[], %s::float8[], %s::text[])"
                    " on conflict (target, at) do nothing",
                    (
                        [r.target for r in results],
                        [r.at for r in results],
                        [r.ok for r in results],
                        [r.status for r in results],
                        [r.latency_ms for r in results],
                        [r.reason[:500].replace("\x00", "") for r in results],
                    ),
                )

    async def read_probes(self, slices: Sequence[WindowSlice], targets: Sequence[str]) -> ProbeRead:
        """Every slice, each target's latest probe and the rollups' epoch, in one statement."""
        params = {"slices": json.dumps([_slice_param(i, s) for i, s in enumerate(slices)]),
                  "targets": list(targets)}
        async with self.connection() as conn:
            cur = await conn.execute(_READ, params)
            rows = await cur.fetchall()
        results: list[SliceResult | None] = [None] * len(slices)
        latest: dict[str, LatestProbe] = {}
        epoch = 0
        for kind, i, data in rows:
            if kind == "slice":
                results[i] = _slice_result(slices[i], data)
            elif kind == "latest":
                latest[data["target"]] = LatestProbe(target=data["target"], at=data["at"], ok=bool(data["ok"]))
            else:
                epoch = int(data)
        return ProbeRead([r if r is not None else SliceResult() for r in results], latest, epoch)

    async def recent_probes(self, targets: Sequence[str], per_target: int = 5) -> dict[str, list[ProbeResult]]:
        """Each target's newest `per_target` probe results, newest first (a gate's
        detail screen): one statement, each target read by its (target, at desc)
        index with a limit, so the cost is the rows returned, however long the
        table. At most RECENT_TARGETS targets and RECENT_PER_TARGET rows each."""
        names = list(dict.fromkeys(targets))[:RECENT_TARGETS]
        limit = max(1, min(per_target, RECENT_PER_TARGET))
        async with self.connection() as conn:
            cur = await conn.execute(
                "select t.target, r.at, r.ok, r.status, r.latency_ms, r.reason"
                " from unnest(%s::text[]) with ordinality as t(target, n)"
                " cross join lateral (select x.at, x.ok, x.status, x.latency_ms, x.reason from gonogo.probe_results x"
                "   where x.target = t.target order by x.at desc limit %s) r"
                " order by t.n, r.at desc",
                (names, limit),
            )
            rows = await cur.fetchall()
        out: dict[str, list[ProbeResult]] = {name: [] for name in names}
        for target, at, ok, status, latency_ms, reason in rows:
            out[target].append(ProbeResult(target=target, at=at, ok=ok, status=status, latency_ms=latency_ms,
                                           reason=reason or ""))
        return out

    async def rollup_epoch(self) -> int:
        """The rollups' epoch (migration 8): it moves when probes land in a settled
        bucket, so a reader of it knows the probe history was rewritten since it last
        looked (a buffer written back after an outage, the demo's week seeded again)."""
        async with self.connection() as conn:
            cur = await conn.execute("select epoch from gonogo.rollup_epoch")
            return int((await cur.fetchone())[0])

    async def failed_probes(self, targets: Sequence[str], since: datetime, limit: int) -> FailedProbes:
        """The newest `limit` failed probes of `targets` since `since`, newest first,
        and how many failed since then (a review's evidence). Both are counted from the
        hour `since` falls in, as the hourly rollup keeps them: call it with a moment
        on the hour to have them exact. One statement, index-backed (see _FAILED)."""
        names = list(dict.fromkeys(targets))
        async with self.connection() as conn:
            cur = await conn.execute(_FAILED, {"targets": names, "since": since, "limit": max(0, limit)})
            rows = await cur.fetchall()
        probes, total = [], 0
        for target, at, status, latency_ms, reason, count in rows:
            if target is None:
                total = int(count)
            else:
                probes.append(ProbeResult(target=target, at=at, ok=False, status=status, latency_ms=latency_ms,
                                          reason=reason or ""))
        return FailedProbes(probes, total)

    async def count_5xx(self, window: timedelta) -> int:
        async with self.connection() as conn:
            cur = await conn.execute(
                "select count(*) from gonogo.probe_results where at > now() - %s and status >= 500", (window,)
            )
            return (await cur.fetchone())[0]

    async def daily_uptime(self, since: datetime) -> list[tuple[datetime, float]]:
        """Uptime per UTC day since `since`, newest first (from the hourly rollup)."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "select date_trunc('day', bucket at time zone 'UTC') as day, 100.0 * sum(ok) / nullif(sum(total), 0)"
                " from gonogo.probe_hour where bucket >= %s group by 1 order by 1 desc",
                (since,),
            )
            return [(d, float(u) if u is not None else 0.0) for d, u in await cur.fetchall()]

    async def prune(self, retention: timedelta, *, batch: int = PRUNE_BATCH,
                    budget: timedelta = timedelta(seconds=60)) -> int:
        """Drop what is past its retention, in batches: one DELETE of millions of rows
        hits the statement timeout every time (measured: a 7 M-row backlog never went),
        so the backlog could only grow. Each batch is one short statement found by the
        time index; the rollups, rewritten by upserts all day, are vacuumed after.
        Returns the rows deleted; stops after `budget` and goes on at the next call."""
        # The minute rollup serves windows up to LONG_WINDOW (their ends, hour-aligned,
        # reach back up to an hour further): kept a little longer than that.
        minute_keep = max(retention, LONG_WINDOW + timedelta(hours=2))
        keep = [
            ("gonogo.probe_results", "at", retention),
            ("gonogo.probe_minute", "bucket", minute_keep),
            ("gonogo.probe_minute_latency", "bucket", minute_keep),
            ("gonogo.probe_hour", "bucket", timedelta(days=35)),
            ("gonogo.probe_hour_latency", "bucket", timedelta(days=35)),
            ("gonogo.gate_evaluations", "at", timedelta(days=35)),
            ("gonogo.alerts", "resolved_at", timedelta(days=35)),
            ("gonogo.alert_episodes", "resolved_at", timedelta(days=35)),
        ]
        deadline = asyncio.get_running_loop().time() + budget.total_seconds()
        deleted = 0
        async with self.connection() as conn:
            for table, column, age in keep:
                while True:
                    cur = await conn.execute(
                        f"delete from {table} where ctid = any(array("
                        f"select ctid from {table} where {column} < now() - %s limit %s))",
                        (age, batch),
                    )
                    deleted += cur.rowcount
                    if cur.rowcount < batch or asyncio.get_running_loop().time() > deadline:
                        break
            if deleted:
                await conn.execute("vacuum (analyze) gonogo.probe_minute, gonogo.probe_hour,"
                                   " gonogo.probe_minute_latency, gonogo.probe_hour_latency")
        return deleted
