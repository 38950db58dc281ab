"""The demo's seeded week holds the gates' evaluations a leader would have recorded
over it (console/demo/seed.py, console/store/demo_seed.py): every gate charted hour by
hour across the week, values that agree with the seeded probes, test runs and costs,
bands as checks.bands judges them, the seeded blip where the probes failed, and the
window and coverage the report reads back."""
from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import psycopg
import pytest

from checks.bands import judge
from checks.coverage import enough
from checks.models import Band, Coverage
from console.config import packaged_config
from console.demo.seed import EVALUATED_EVERY, seed
from console.report import read_report, render_html, render_markdown
from console.store.demo_seed import newest_probe_at

UTC = timezone.utc
HOUR = timedelta(hours=1)
TARGETS = ["api", "auth", "billing", "search", "worker"]


@pytest.fixture
async def week(store, db_url):
    """The demo's week seeded with the demo's own config: (store, config, now, burn-in start)."""
    config = packaged_config()
    now = datetime.now(UTC)
    start = await seed(db_url, TARGETS, config.rollout.flag, config.rollout.steps, now=now, config=config)
    return store, config, now, start


def rows(db_url, sql, *args):
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql, args).fetchall()


async def test_every_gate_is_charted_hour_by_hour_from_the_burn_in_start_to_now(week):
    store, config, now, start = week
    hours = []
    h = start
    while h <= newest_probe_at(start, now):
        hours.append(h)
        h += HOUR
    assert 160 <= len(hours) <= 169  # the story's week: 6 d 18 h so far
    for gate in config.gates:
        trend = await store.gate_trend(gate.name, now - timedelta(days=7), HOUR)
        assert [b for b, _, _ in trend] == hours, gate.name  # every hour, none missing
        assert all(lo is not None and hi is not None for _, lo, hi in trend), gate.name
    # The 1 h chart and the sparklines: the last hour at the leader's own pace.
    recent = await store.gate_series(now - HOUR, ["error_rate"])
    assert 230 <= len(recent["error_rate"]) <= 241


async def test_the_seeded_blip_is_on_the_week_where_the_probes_failed(week, db_url):
    store, config, now, start = week
    failed_hours = {b for (b,) in rows(db_url, "select bucket from gonogo.probe_hour group by bucket"
                                               " having sum(ok) < sum(total)")}
    assert failed_hours == {start + timedelta(hours=9)}  # the story's one blip, on day one
    bands = {g.name: g.bands for g in config.gates}
    error_rate = await store.gate_trend("error_rate", now - timedelta(days=7), HOUR)
    passing = await store.gate_trend("checks_passing", now - timedelta(days=7), HOUR)
    for (b, _, hi), (_, lo, _) in zip(error_rate, passing):
        if b in failed_hours:
            assert judge(hi, bands["error_rate"]) is Band.RED, (b, hi)
            assert lo < 100, (b, lo)  # the failing target was down at an evaluation
        else:
            assert judge(hi, bands["error_rate"]) is Band.GREEN, (b, hi)
            assert lo == 100, (b, lo)
    red = rows(db_url, "select detail from gonogo.gate_evaluations where gate = 'checks_passing' and value < 100")
    assert red and all(d == "4/5 healthy; down: worker" for (d,) in red)


async def test_every_seeded_band_is_the_bands_judgement_of_its_value_and_coverage(week, db_url):
    _, config, _, _ = week
    gates = {g.name: g for g in config.gates}
    seen = defaultdict(set)
    for gate, value, band, window_s, covered_s, samples in rows(
            db_url, "select gate, value, band, window_s, covered_s, samples from gonogo.gate_evaluations"):
        g = gates[gate]
        want = judge(value, g.bands)
        if window_s is not None and value is not None:
            cov = Coverage(window_seconds=window_s, covered_seconds=covered_s, samples=samples)
            if not enough(cov, *config.min_coverage(g)):
                want = Band.UNKNOWN
        assert band == want.value, (gate, value, band, window_s, covered_s, samples)
        seen[gate].add(band)
    # The 7-day uptime covers too little of its window for the first days: UNKNOWN, as a
    # leader judged it then; green once most of the week is covered.
    assert seen["uptime"] == {"unknown", "green"}
    assert "red" in seen["error_rate"] and "yellow" in seen["checks_passing"]


async def test_the_values_agree_with_the_seeded_probes_test_runs_and_costs(week, db_url):
    _, config, now, start = week
    probes = defaultdict(list)
    for target, at, ok, latency in rows(db_url, "select target, at, ok, latency_ms from gonogo.probe_results"):
        probes[target].append((at, ok, latency))
    series = defaultdict(dict)
    for gate, at, value in rows(db_url, "select gate, at, value from gonogo.gate_evaluations"):
        series[gate][at] = value
    moments = sorted(series["error_rate"])
    picked = random.Random(7).sample(moments, 20) + [start + timedelta(hours=9), start + timedelta(hours=9, minutes=5),
                                                     moments[-1]]

    def window(t, span):
        return [(at, ok, lat) for ps in probes.values() for at, ok, lat in ps if t - span < at <= t]

    for t in picked:
        five = window(t, timedelta(minutes=5))
        failed = sum(1 for _, ok, _ in five if not ok)
        assert series["error_rate"][t] == pytest.approx(100 * failed / len(five)), t
        lat = sorted(x for _, _, x in five)
        pos = 0.95 * (len(lat) - 1)  # percentile_cont: between the two nearest ranks
        p95 = lat[math.floor(pos)] + (lat[math.ceil(pos)] - lat[math.floor(pos)]) * (pos - math.floor(pos))
        assert series["p95_latency"][t] == pytest.approx(p95), t
        week_so_far = window(t, timedelta(days=7))
        assert series["uptime"][t] == pytest.approx(100 * sum(ok for _, ok, _ in week_so_far) / len(week_so_far)), t
        newest = [max((p for p in ps if t - timedelta(minutes=1) < p[0] <= t), default=None) for ps in probes.values()]
        healthy = sum(1 for p in newest if p is not None and p[1])
        assert series["checks_passing"][t] == pytest.approx(100 * healthy / len(TARGETS)), t

    runs = rows(db_url, "select at, passed from demo.test_runs")
    (zone,) = rows(db_url, "show timezone")[0]
    costs = dict(rows(db_url, "select day, dollars from demo.costs"))
    for t in picked:
        day = [passed for at, passed in runs if t - timedelta(hours=24) < at <= t]
        assert series["test_pass_rate"][t] == pytest.approx(100 * sum(day) / len(day)), t
        assert series["daily_cost"][t] == pytest.approx(float(costs[t.astimezone(ZoneInfo(zone)).date()])), t
        assert series["p1_incidents_7d"][t] == 0 and series["critical_alerts"][t] == 0
    # A week's cadence: one every 5 minutes, and the last hour at the leader's 15 s.
    assert moments[1] - moments[0] == EVALUATED_EVERY


async def test_the_demo_report_has_a_window_and_a_coverage_for_every_gate_and_a_week_charted(week):
    store, config, now, _ = week
    data = await read_report(store, config, now, UTC)
    assert data.unrecorded == ()
    for c in data.criteria:
        assert c.recorded and c.reading.window, c.reading.name
        assert c.reading.band is not Band.UNKNOWN, (c.reading.name, c.reading.detail)
        if c.reading.source == "probe" and c.reading.name != "checks_passing":
            assert c.reading.coverage is not None, c.reading.name  # the windowed ones: what they covered
        assert len(c.trend) >= 160, c.reading.name
    md, page = render_markdown(data), render_html(data)
    assert "not recorded" not in md and "not recorded" not in page
    assert page.count("<svg") >= len(config.gates)


async def test_a_reseed_rewrites_the_evaluations_once(store, db_url):
    """`n` and `--reset` start the week over: the evaluations of the last seed only,
    none of the one before (whose last hour at 15 s ended ten minutes earlier: more than
    the 5-minute grid, so the stretch between the two last hours always holds grid points)."""
    config = packaged_config()
    first = datetime.now(UTC) - timedelta(minutes=10)
    await seed(db_url, TARGETS, config.rollout.flag, config.rollout.steps, now=first, config=config)
    again = first + timedelta(minutes=10)
    start = await seed(db_url, TARGETS, config.rollout.flag, config.rollout.steps, now=again, reset=True,
                       config=config)
    last = newest_probe_at(start, again)
    week = math.ceil((last - HOUR - start) / EVALUATED_EVERY) - 1  # from start + 5 m, before the last hour at 15 s
    counts = dict(rows(db_url, "select gate, count(*) from gonogo.gate_evaluations group by gate"))
    assert counts == {g.name: week + 1 + 4 * 60 for g in config.gates}
    # The first seed's last hour, at 15 s, is gone: only the week's 5-minute grid is left there.
    between = rows(db_url, "select at from gonogo.gate_evaluations where gate = 'error_rate' and at >= %s and at < %s",
                   newest_probe_at(start, first) - HOUR, last - HOUR)
    assert between and all((at - start) % EVALUATED_EVERY == timedelta(0) for (at,) in between)


async def test_longer_windows_are_replayed_from_the_rollups_as_the_probes_have_them(store, db_url):
    """A config with other windows than the demo's: p95 over an hour (from the latency
    histograms, read as checks.latency_histogram reads them) and the error rate over a day."""
    import tomllib
    from pathlib import Path

    from checks import latency_histogram
    from console.config import parse_config

    raw = tomllib.loads((Path(__file__).resolve().parents[1] / "config.toml").read_text())
    for g in raw["gates"]:
        if g["name"] in ("p95_latency", "error_rate"):
            g["window"] = "1h" if g["name"] == "p95_latency" else "24h"
    config = parse_config(raw)
    now = datetime.now(UTC)
    start = await seed(db_url, TARGETS, config.rollout.flag, config.rollout.steps, now=now, config=config)
    probes = rows(db_url, "select at, ok, latency_ms from gonogo.probe_results")
    series = defaultdict(dict)
    for gate, at, value, window, covered_s in rows(
            db_url, "select gate, at, value, gate_window, covered_s from gonogo.gate_evaluations"):
        series[gate][at] = (value, window, covered_s)
    picked = random.Random(3).sample(sorted(series["p95_latency"]), 10) + [start + timedelta(hours=9, minutes=5)]
    for t in picked:
        hour = [p for p in probes if t - HOUR < p[0] <= t]
        hist = latency_histogram.merge([{latency_histogram.bin_of(lat): 1} for _, _, lat in hour])
        value, window, _ = series["p95_latency"][t]
        assert (value, window) == (pytest.approx(latency_histogram.quantile(hist, 0.95)), "1h"), t
        day = [p for p in probes if t - timedelta(hours=24) < p[0] <= t]
        value, window, covered_s = series["error_rate"][t]
        assert value == pytest.approx(100 * sum(not ok for _, ok, _ in day) / len(day)), t
        # a minute a coverage bucket, up to the day: as many minutes as the probes span
        assert (window, covered_s) == ("1d", 60.0 * len({at for at, _, _ in day})), t
