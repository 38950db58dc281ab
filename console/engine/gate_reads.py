"""Every probe gate of one evaluation, read in one round trip.

Each gate's window is cut into slices (checks/probe_windows.py). A rollup-read window
has a settled part, which cannot change before its next bucket begins, and a live
part of a few rows per target. The settled part is read once per bucket (a minute,
or an hour past two days) and kept here; every evaluation reads the live parts, the
short windows' raw rows and each target's latest probe, all in one statement. When
probes land in a settled bucket after all (a buffer written back after an outage)
the rollups' epoch moves, and what was kept is read again.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from checks.models import LatestProbe, SliceResult, WindowSlice
from checks.probe_windows import combine, live_slice, plan, raw_slice, settled_slices


@dataclass(frozen=True)
class ProbeGateSpec:
    """What one probe gate reads: a metric over a window of some targets, with the
    coverage bucket (checks.coverage.bucket_for) its window is counted in."""

    metric: str  # error_rate | uptime | p95_latency | checks_passing
    window: timedelta
    targets: tuple[str, ...]
    bucket: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class ProbeAggregate:
    value: float | None
    detail: str
    last_at: datetime | None  # the newest probe of any of the gate's targets
    samples: int = 0  # probes (or rollup counts) the value was computed from
    buckets: int = 0  # coverage buckets of the window holding at least one of them


def _wall_clock() -> datetime:
    return datetime.now(timezone.utc)


class ProbeGateReader:
    """Reads probe gates for one engine, keeping each gate's settled part between
    evaluations (bounded: one entry per distinct gate)."""

    def __init__(self, clock=_wall_clock):
        # The database's clock decides what is in a raw window (now() in SQL); the
        # rollup windows are cut by this one, the machine's: not the engine's clock,
        # which tests and the demo may move.
        self.clock = clock
        # A settled slice's result, with the rollups' epoch it was read at. Keyed by the
        # slice itself (its table, targets and range): the hour slice of a 24 h window
        # stays the same for an hour while its minute ends move every minute.
        self._settled: dict[WindowSlice, tuple[int, SliceResult, bool]] = {}  # epoch, result, latencies read
        self.round_trips = 0  # statements sent, for tests and the bench

    async def read(self, store, specs: Sequence[ProbeGateSpec]) -> list[ProbeAggregate]:
        out = await self._read(store, specs, use_kept=True)
        if out is None:  # the rollups moved under what was kept: read it all again
            self._settled.clear()
            out = await self._read(store, specs, use_kept=False)
        return out

    async def _read(self, store, specs: Sequence[ProbeGateSpec], *, use_kept: bool) -> list[ProbeAggregate] | None:
        now = self.clock()
        # Slices are known by what they read (table, targets, range), whether or not
        # their latencies are wanted: an error rate and a p95 over one window share
        # one slice, read with its histogram.
        latency: dict[WindowSlice, bool] = {}
        layout = []  # per spec: None (checks passing), or (raw?, its slices)
        for spec in specs:
            if spec.metric == "checks_passing":
                layout.append(None)
                continue
            bin_s = int(spec.bucket.total_seconds())
            p = plan(spec.window, now)
            if p.granularity == "raw":
                slices = [raw_slice(spec.window, spec.targets, bin_s, False)]
            else:
                slices = [*settled_slices(p, spec.targets, bin_s, False), live_slice(p, spec.targets, bin_s, False)]
            for sl in slices:
                latency[sl] = latency.get(sl, False) or spec.metric == "p95_latency"
            layout.append((p.granularity == "raw", slices))
        kept = {}
        if use_kept:
            kept = {sl: self._settled[sl] for sl in latency
                    if sl in self._settled and (self._settled[sl][2] or not latency[sl])}
        ask = [sl for sl in latency if sl not in kept]
        targets = sorted({t for spec in specs for t in spec.targets})
        read = await store.read_probes([sl.model_copy(update={"latency": latency[sl]}) for sl in ask], targets)
        self.round_trips += 1
        if any(epoch != read.epoch for epoch, _, _ in kept.values()):
            return None
        results = {sl: r for sl, (_, r, _) in kept.items()}
        results.update(zip(ask, read.slices))
        # Keep the settled slices this round used (bounded by the gates), each with
        # whether its latencies were read.
        self._settled = {**kept, **{sl: (read.epoch, r, latency[sl]) for sl, r in zip(ask, read.slices)
                                    if sl.hi is not None}}
        out = []
        for spec, entry in zip(specs, layout):
            last_at = _newest(read.latest, spec.targets)
            if entry is None:
                out.append(_checks_passing(spec, read.latest, now, last_at))
                continue
            raw, slices = entry
            v = combine(spec.metric, [results[sl] for sl in slices], raw=raw, answered_ever=last_at is not None)
            out.append(ProbeAggregate(v.value, v.detail, last_at, v.samples, v.buckets))
        return out


def _newest(latest: dict[str, LatestProbe], targets: Sequence[str]) -> datetime | None:
    times = [latest[t].at for t in targets if t in latest and latest[t].at is not None]
    return max(times) if times else None


def _checks_passing(spec: ProbeGateSpec, latest: dict[str, LatestProbe], now: datetime,
                    last_at: datetime | None) -> ProbeAggregate:
    """Targets whose latest probe, within the window, passed: each target's newest
    row by the (target, at) index, never a sort of the window."""
    recent = {t: latest[t] for t in spec.targets if t in latest and latest[t].at is not None
              and latest[t].at > now - spec.window}
    if not recent:
        return ProbeAggregate(None, "no probes in window", None)
    passing = sum(1 for p in recent.values() if p.ok)
    down = [t for t in spec.targets if not (t in recent and recent[t].ok)]
    detail = f"{passing}/{len(spec.targets)} healthy" + (f"; down: {', '.join(down)}" if down else "")
    return ProbeAggregate(100.0 * passing / len(spec.targets), detail, max(p.at for p in recent.values()))


async def probe_aggregate(store, metric: str, window: timedelta, targets: Sequence[str],
                          bucket: timedelta = timedelta(minutes=1)) -> ProbeAggregate:
    """One probe gate, read on its own (one-off callers and tests)."""
    return (await ProbeGateReader().read(store, [ProbeGateSpec(metric, window, tuple(targets), bucket)]))[0]
