"""The demo's story: a 7-day burn-in that ends in a few hours, with the canary at
its third step. This decides what the week holds and when a restarted demo keeps
it; the statements are in console/store/demo_seed.py, and the rollout's history is
written with the controller's own statements, signed like any other trail."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg

from checks import latency_histogram
from checks.audit import head_signature, link, seal
from checks.coverage import bucket_for
from checks.durations import duration_text
from checks.rollout import RolloutState

from ..audit_key import load_key
from ..config import Config, packaged_config
from ..durations import format_duration
from ..engine.core import RECORD_EVERY
from ..store import demo_seed
from ..store import rollout as rollout_tables

FRESH_FOR = timedelta(minutes=30)  # a demo restarted within this keeps its history
SEEDED_STEPS = 2  # the canary has advanced twice (0 → 5 → 10 with the default steps)
# The gates' evaluations over the week: one every EVALUATED_EVERY (a leader records one
# every RECORD_EVERY; the 24 h and 7 d charts fold them into 15-minute and hour buckets,
# so this keeps the week a few thousand rows a gate), and in the last hour one every
# RECORD_EVERY, as the 1 h chart and the sparklines read them.
EVALUATED_EVERY = timedelta(minutes=5)


def burn_in_start(now: datetime) -> datetime:
    """Six days and eighteen hours ago, on the hour: the window ends in a few hours."""
    return (now - timedelta(days=6, hours=18)).replace(minute=0, second=0, microsecond=0)


async def seed(url: str, targets: list[str], flag: str, steps: list[int], *, now: datetime | None = None,
               reset: bool = False, start: datetime | None = None, config: Config | None = None) -> datetime:
    """Seed (or keep) the demo history; returns the burn-in start to show. `start`:
    the burn-in start to keep (the running demo's `n`, whose screen shows it already).
    `config`: whose gates' evaluations the week holds (default: the packaged demo config's)."""
    now = now or datetime.now(timezone.utc)
    gates = seeded_gates(config or packaged_config(), targets)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await demo_seed.create_schema(conn)
        kept, last = (await demo_seed.recall(conn)).get("burn_in_start"), await demo_seed.newest_probe(conn)
        if kept and last and now - last < FRESH_FOR and not reset:
            return datetime.fromisoformat(kept)
        start = start or burn_in_start(now)
        key = load_key(create=True)  # before anything is emptied: a key that cannot be used changes nothing
        async with conn.transaction():
            await demo_seed.empty(conn)
            await demo_seed.write_week(conn, targets, start=start, now=now)
            await demo_seed.write_evaluations(conn, gates, start=start, now=now, every=EVALUATED_EVERY,
                                              recent_every=RECORD_EVERY, bin_values=_BIN_VALUES)
            await _write_rollout(conn, flag, steps, key.secret, now)
            await demo_seed.remember(conn, "burn_in_start", start.isoformat())
        return start


_BIN_VALUES = [latency_histogram.bin_value(i) for i in range(latency_histogram.BINS)]


def seeded_gates(config: Config, targets: list[str]) -> list[demo_seed.SeededGate]:
    """The configured gates whose week the seed can replay: every probe gate (over the
    seeded probes of its targets) and the demo's SQL gates (demo_seed.REPLAYED_SQL_GATES).
    A PromQL gate, or a query the demo's tables do not answer, starts its history with
    the demo. The seeded probes come one a minute, standing for a week probed at the
    targets' intervals: coverage is counted in the buckets the leader would count in,
    and no seeded value is stale."""
    out = []
    for g in config.gates:
        common = dict(name=g.name, bands=g.bands, unit=g.display_unit)
        if g.source == "probe":
            own = (g.target,) if g.target else tuple(targets)
            interval = max((t.interval for t in config.targets if t.name in own), default=timedelta(minutes=1))
            bucket = bucket_for(g.window, interval)
            expected = max(1, -(-g.window // bucket))
            min_fraction, min_samples = config.min_coverage(g)
            out.append(demo_seed.SeededGate(
                **common, kind=g.probe_metric, window_text=format_duration(g.window), targets=own, window=g.window,
                bucket=bucket, min_fraction=min_fraction, min_samples=min_samples,
                cover_texts=tuple(duration_text(g.window * k / expected) for k in range(expected + 1))))
        elif g.source == "sql" and g.name in demo_seed.REPLAYED_SQL_GATES:
            out.append(demo_seed.SeededGate(**common, kind=g.name, window_text=format_duration(g.interval)))
    return out


async def _write_rollout(conn, flag: str, steps: list[int], secret: bytes, now: datetime) -> None:
    """One signed event per advance and a signed head, as the controller writes them,
    so `gonogo audit verify` holds on the demo too. The trail starts over, so the
    version does as well: 1 + one per event."""
    n = min(SEEDED_STEPS, len(steps) - 1)
    started = now - timedelta(hours=5)
    prev = None
    for i in range(1, n + 1):
        event = dict(at=started - timedelta(hours=12 * (n - i)), flag=flag, operator="demo", action="advance",
                     from_pct=steps[i - 1], to_pct=steps[i], reason=f"burn-in clean at {steps[i - 1]} %",
                     verdict="GO", gates={}, automatic=False, override=False)
        prev = seal(secret, prev, event)
        await rollout_tables.append_event(conn, event, prev)
    state = "complete" if n == len(steps) - 1 else "soaking"
    new = RolloutState(flag=flag, percentage=steps[n], state=state, version=1 + n, stage_started_at=started,
                       soak_elapsed_s=0.0, soak_resumed_at=started if state == "soaking" else None,
                       updated_by="demo")
    await rollout_tables.ensure_rollout_state(conn, flag, steps[0])
    await rollout_tables.write_state(conn, flag, new, operator="demo", now=now, actuation="ok", action="advance")
    head = dict(flag=flag, version=new.version, percentage=new.percentage, state=state, stage_started_at=started,
                soak_elapsed_s=0.0, soak_resumed_at=new.soak_resumed_at, last=link(prev) if prev else None, count=n)
    await rollout_tables.write_head(conn, flag, head["last"], n, head_signature(secret, head))
