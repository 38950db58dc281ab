"""Probe gates read from the smallest data that answers them, against a real PostgreSQL:
rollups and histograms agree with the raw rows, retention cuts nothing, one statement
per evaluation, what was kept is read again when the rollups move, and the plans."""
import json
import random
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from checks import latency_histogram as lh
from checks.coverage import bucket_for
from checks.models import ProbeResult
from checks.probe_windows import plan
from console.engine.gate_reads import ProbeGateReader, ProbeGateSpec
from console.store.probes import _READ, _slice_param

NOW = datetime.now(timezone.utc).replace(microsecond=0)
TARGETS = ("a", "b", "c")


def week(end: datetime, *, seed: int = 1) -> list[ProbeResult]:
    """A week of probes, one a minute per target, ~2 % failed, a 3-hour hole a day ago
    and a few missing minutes, latencies spread over three decades."""
    rng = random.Random(seed)
    out = []
    for m in range(7 * 24 * 60):
        at = end - timedelta(minutes=m, seconds=0)
        if timedelta(hours=20) < end - at < timedelta(hours=23) or m % 97 == 5:
            continue
        for i, t in enumerate(TARGETS):
            ok = rng.random() > 0.02
            out.append(ProbeResult(target=t, at=at - timedelta(seconds=7 * i), ok=ok, status=200 if ok else 503,
                                   latency_ms=None if not ok and rng.random() < 0.5 else rng.lognormvariate(2.5, 1.2)))
    return out


async def seed(store, rows):
    for i in range(0, len(rows), 20_000):
        await store.insert_probes(rows[i:i + 20_000])


def spec(metric, window, targets=TARGETS):
    return ProbeGateSpec(metric, window, tuple(targets), bucket_for(window, timedelta(minutes=1)))


def exact(db_url, window, targets=TARGETS, bucket=timedelta(minutes=1)):
    """The same figures straight from the raw rows, over the window the reader reads."""
    start = plan(window, NOW).start
    with psycopg.connect(db_url) as c:
        return c.execute(
            "select count(*) filter (where ok), count(*),"
            " percentile_disc(0.95) within group (order by latency_ms),"
            " count(latency_ms), count(distinct date_bin(%s, at, timestamptz 'epoch'))"
            " from gonogo.probe_results where target = any(%s) and at >= %s",
            (bucket, list(targets), start)).fetchone()


WINDOWS = [timedelta(hours=1), timedelta(hours=24), timedelta(hours=30), timedelta(days=7)]


async def test_long_windows_from_rollups_agree_with_the_raw_rows(store, db_url):
    await seed(store, week(NOW))
    reader = ProbeGateReader(clock=lambda: NOW)
    specs = [spec(m, w) for w in WINDOWS for m in ("error_rate", "uptime", "p95_latency")]
    specs.append(spec("error_rate", timedelta(hours=24), ["b"]))
    got = dict(zip(specs, await reader.read(store, specs)))
    for s, agg in got.items():
        ok, total, p95, n_lat, buckets = exact(db_url, s.window, s.targets, s.bucket)
        if s.metric == "error_rate":
            assert agg.value == pytest.approx(100 * (total - ok) / total) and agg.samples == total, s
        elif s.metric == "uptime":
            assert agg.value == pytest.approx(100 * ok / total), s
        else:  # the histogram's p95 within its stated bound of the exact nearest-rank p95
            assert abs(agg.value - p95) / p95 <= lh.ERROR_BOUND, (s, agg.value, p95)
            assert agg.samples == n_lat
        # coverage: the buckets holding a probe, whether counted from minute rows,
        # hour masks or raw rows (the hole and the missing minutes show)
        if s.metric != "p95_latency":
            assert agg.buckets == buckets, s
    day = got[spec("uptime", timedelta(hours=24))]
    assert day.buckets < 24 * 60 - 150  # the 3-hour hole is not covered


async def test_raw_retention_does_not_cut_a_long_window(store, db_url):
    await seed(store, week(NOW))
    specs = [spec(m, timedelta(days=7)) for m in ("error_rate", "uptime", "p95_latency")]
    before = await ProbeGateReader(clock=lambda: NOW).read(store, specs)
    assert await store.prune(timedelta(days=2)) > 0
    with psycopg.connect(db_url) as c:
        oldest = c.execute("select min(at) from gonogo.probe_results").fetchone()[0]
    assert NOW - oldest < timedelta(days=2, minutes=5)
    after = await ProbeGateReader(clock=lambda: NOW).read(store, specs)
    assert [(a.value, a.samples, a.buckets) for a in after] == [(b.value, b.samples, b.buckets) for b in before]


async def test_every_probe_gate_of_an_evaluation_is_one_statement(store):
    await seed(store, week(NOW)[:20_000])
    specs = [spec(m, w) for m in ("error_rate", "uptime", "p95_latency", "checks_passing")
             for w in (timedelta(minutes=1), timedelta(minutes=5), *WINDOWS)]
    specs += [spec("error_rate", timedelta(minutes=5), [t]) for t in TARGETS]
    statements = []
    async with store.session():
        async with store.connection() as conn:
            real = conn.execute

            async def counting(query, *a, **k):
                statements.append(query)
                return await real(query, *a, **k)

            conn.execute = counting
            reader = ProbeGateReader()
            first = await reader.read(store, specs)
            second = await reader.read(store, specs)
    assert len(specs) == 27 and len(statements) == 2  # one per read, for 27 gates of 3 targets
    assert [a.value for a in first] == [b.value for b in second]


async def test_settled_parts_are_kept_and_read_again_when_a_late_probe_lands_in_them(store):
    await seed(store, week(NOW))
    sent = []

    class Spy:
        async def read_probes(self, slices, targets):
            sent.append(len(slices))
            return await store.read_probes(slices, targets)

    reader = ProbeGateReader(clock=lambda: NOW)
    specs = [spec("error_rate", timedelta(hours=24)), spec("error_rate", timedelta(days=7))]
    first = await reader.read(Spy(), specs)
    second = await reader.read(Spy(), specs)
    assert sent[1] == 2 < sent[0]  # only the two live slices the second time
    assert [a.value for a in first] == [a.value for a in second]
    # a leader writes back its outage buffer: failed probes, hours old, into settled buckets
    late = [ProbeResult(target="a", at=NOW - timedelta(hours=5, seconds=s), ok=False, status=503, latency_ms=1.0)
            for s in range(1, 31)]
    await store.insert_probes(late)
    third = await reader.read(Spy(), specs)
    assert [a.samples for a in third] == [a.samples + 30 for a in first]
    assert all(t.value > f.value for t, f in zip(third, first))


async def test_the_database_bins_latencies_as_the_histogram_module_does(store, db_url):
    values = [0.0, 0.01, 0.05, 0.0525, 0.06, 0.5, 1.0, 1.2, 7.77, 99.9, 100.0, 250.0, 499.0, 501.0, 2000.0, 9.9e6]
    await store.insert_probes([ProbeResult(target=f"x{i}", at=NOW, ok=True, status=200, latency_ms=v)
                               for i, v in enumerate(values)])
    with psycopg.connect(db_url) as c:
        got = dict(c.execute("select target, bin from gonogo.probe_minute_latency").fetchall())
        hour = dict(c.execute("select target, bin from gonogo.probe_hour_latency").fetchall())
    assert got == hour == {f"x{i}": lh.bin_of(v) for i, v in enumerate(values)}


def _nodes(node, parents=()):
    yield node, parents
    for child in node.get("Plans", ()):
        yield from _nodes(child, (*parents, node))


async def test_each_gate_kind_reads_its_index_or_rollup_and_never_sorts_the_probe_table(store, db_url):
    # enough rows that the planner's choices are the ones a real week gets
    await seed(store, week(NOW))
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("analyze")
    kinds = {
        "raw": [spec("error_rate", timedelta(minutes=5)), spec("p95_latency", timedelta(minutes=5))],
        "minute": [spec("uptime", timedelta(hours=24)), spec("p95_latency", timedelta(hours=24))],
        "hour": [spec("error_rate", timedelta(days=7)), spec("p95_latency", timedelta(days=7))],
        "latest": [spec("checks_passing", timedelta(minutes=1))],
    }
    for kind, specs in kinds.items():
        sent = {}

        class Spy:
            async def read_probes(self, slices, targets):
                sent["slices"], sent["targets"] = slices, targets
                return await store.read_probes(slices, targets)

        await ProbeGateReader(clock=lambda: NOW).read(Spy(), specs)
        params = {"slices": json.dumps([_slice_param(i, s) for i, s in enumerate(sent["slices"])]),
                  "targets": list(sent["targets"])}
        with psycopg.connect(db_url) as c:
            doc = c.execute("explain (analyze, format json) " + _READ, params).fetchone()[0]
        nodes = list(_nodes(doc[0]["Plan"]))
        # what ran: a branch for another kind of slice is planned but never runs
        scans = [(n.get("Node Type"), n.get("Relation Name"), n.get("Index Name"), p) for n, p in nodes
                 if n.get("Relation Name", "").startswith("probe_") and n.get("Actual Loops")]
        text = json.dumps(doc)
        for node_type, rel, index, parents in scans:
            assert node_type != "Seq Scan" or rel not in ("probe_results", "probe_minute_latency",
                                                            "probe_hour_latency"), (kind, rel, text)
            if rel == "probe_results":
                assert "Index" in node_type or "Bitmap" in node_type, (kind, node_type)
                # raw rows only for short windows; otherwise only each target's newest, by index
                if kind != "raw":
                    assert any(p.get("Node Type") == "Limit" for p in parents), (kind, text)
        for n, parents in nodes:  # no sort over the probe table (bar a short window's own rows)
            if n.get("Node Type") == "Sort" and n.get("Actual Loops"):
                below = [m.get("Relation Name") for m, _ in _nodes(n) if m.get("Actual Loops")]
                assert "probe_results" not in below or kind == "raw", (kind, text)
        read = {rel for _, rel, _, _ in scans}
        if kind == "minute":
            assert {"probe_minute", "probe_hour", "probe_minute_latency", "probe_hour_latency"} <= read, read
        if kind == "hour":
            assert {"probe_hour", "probe_hour_latency"} <= read and "probe_minute_latency" not in read, read


async def test_a_slow_evaluation_is_stamped_when_its_reads_ended(store, db_url, health_server):
    from console.engine import Engine

    from .conftest import make_config

    base, _ = health_server
    engine = Engine(make_config(db_url, base), store, lead=False)
    real = store.read_probes

    async def slow(slices, targets):
        import asyncio

        await asyncio.sleep(2.0)
        return await real(slices, targets)

    store.read_probes = slow
    began = datetime.now(timezone.utc)
    snap = await engine.evaluate()
    ended = datetime.now(timezone.utc)
    assert snap.at - began >= timedelta(seconds=2) and ended - snap.at < timedelta(seconds=1)


async def test_migration_8_builds_histograms_and_masks_from_what_is_there(db_url, monkeypatch):
    from console.store import db as dbmod
    from console.store.db import Store
    from console.store.schema import MIGRATIONS

    store = Store(db_url)
    await store.open()
    try:
        monkeypatch.setattr(dbmod, "MIGRATIONS", [m for m in MIGRATIONS if m[0] < 8])
        assert await store.migrate() == 7
        await seed(store, week(NOW)[: 3 * 26 * 60])  # about a day, written by the old trigger
        monkeypatch.setattr(dbmod, "MIGRATIONS", MIGRATIONS)
        assert await store.migrate() >= 8
        specs = [spec("p95_latency", timedelta(hours=24)), spec("uptime", timedelta(hours=24))]
        p95, up = await ProbeGateReader(clock=lambda: NOW).read(store, specs)
        ok, total, exact_p95, n_lat, buckets = exact(db_url, timedelta(hours=24))
        assert abs(p95.value - exact_p95) / exact_p95 <= lh.ERROR_BOUND and p95.samples == n_lat
        assert up.buckets == buckets and up.value == pytest.approx(100 * ok / total)
    finally:
        await store.close()
