"""One evaluation everywhere, nothing written by one-shots, and enough data or
UNKNOWN: against the real database (and, for the verdicts, the real demo)."""
from __future__ import annotations

import argparse
import asyncio
import json
import re
from datetime import datetime, timedelta, timezone

import psycopg

from checks.models import Band, ProbeResult
from console.engine import Engine
from console.store.db import Store

from .conftest import make_config
from .test_cli import gonogo, gonogo_all, write_config
from .test_demo_reach import reachable_dir  # noqa: F401 (a fixture)
from .test_engine import gate, running


def table_fingerprints(db_url) -> dict[str, str]:
    """Every table of the console's schema, as an md5 of its rows (and its row count)."""
    with psycopg.connect(db_url) as c:
        tables = [r[0] for r in c.execute(
            "select tablename from pg_tables where schemaname = 'gonogo' order by 1").fetchall()]
        return {t: c.execute(f"select count(*)::text || ':' || coalesce(md5(string_agg(x::text, ',' order by x::text)), '')"
                             f" from gonogo.{t} x").fetchone()[0] for t in tables}


async def test_check_status_and_report_write_nothing_even_with_every_target_unreachable(tmp_path, db_url, health_server):
    base, _ = health_server
    # A live store: the console has probed, recorded, alerted and acted.
    async with running(make_config(db_url, base, targets=("api", "auth"))) as engine:
        for _ in range(50):
            if engine.snapshot is not None and engine.snapshot.rollout is not None:
                break
            await asyncio.sleep(0.2)
        await engine.store.raise_alert("ev:1", "events", "critical", "disk", "full")
        await engine.controller.act("advance", operator="t", reason="go", verdict=engine.snapshot.verdict,
                                    override=True)
    before = table_fingerprints(db_url)
    assert int(before["probe_results"].split(":")[0]) > 0 and int(before["rollout_events"].split(":")[0]) == 1
    # From a laptop that cannot reach the targets (nothing listens on port 9):
    cfg = write_config(tmp_path, db_url, "http://127.0.0.1:9")
    r = gonogo("check", "--json", "--config", str(cfg))
    assert r.returncode == 1, r.stderr
    out = json.loads(r.stdout)
    assert gate_of(out, "checks_passing")["band"] == "red"  # its own answer counts its own probes ...
    assert all(not p["ok"] for p in out["probed_here"])
    one_shots = [[*args, "--config", str(cfg)] for args in (("check",), ("status",), ("status", "--json"), ("report",))]
    for args, r in zip(one_shots, gonogo_all(*one_shots)):  # side by side, as scripts may run them
        assert r.returncode in (0, 1), (args, r.stderr)
    assert table_fingerprints(db_url) == before  # ... and nothing of it was written


def gate_of(out, name):
    return next(g for g in out["gates"] if g["name"] == name)


async def test_status_of_a_flag_never_acted_on_writes_nothing(store):
    view = await store.rollout_view("never_touched", [0, 50, 100], lambda p: timedelta(hours=1))
    assert (view.percentage, view.state, view.version) == (0, "idle", 1)
    async with store.connection() as conn:
        assert (await (await conn.execute("select count(*) from gonogo.rollout_state")).fetchone())[0] == 0


async def test_report_check_and_the_console_agree_on_the_demo(reachable_dir, monkeypatch, capsys):
    """The console (a leading engine), `check` and `report` on the real demo: the same
    gates, SQL and PromQL-free demo gates included, in the same bands."""
    from console.cli import reading
    from console.cli import report as report_command
    from console.config import load_config
    from console.demo.run import prepare_demo

    tmp_path = reachable_dir  # outside pytest's folder: see tests/test_demo_reach.py
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    base = load_config("config.toml")
    base = base.model_copy(update={"database": base.database.model_copy(update={"data_dir": str(tmp_path / "pg")})})
    (tmp_path / "pg").mkdir()
    (tmp_path / "pg").chmod(0o755)
    config, service = await asyncio.to_thread(prepare_demo, base, port=0)
    try:
        async with running(config) as engine:
            for _ in range(100):  # every query gate answered once
                snap = engine.snapshot
                if snap is not None and all("waiting" not in g.detail for g in snap.gates):
                    break
                await asyncio.sleep(0.2)
            console = {g.name: g.band.value for g in engine.snapshot.gates}
            assert "unknown" not in console.values(), engine.snapshot.gates
            assert await reading.check(config, as_json=True) in (0, 1)
            checked = {g["name"]: g["band"] for g in json.loads(capsys.readouterr().out)["gates"]}
            out = tmp_path / "report.md"
            assert await report_command.report(config, argparse.Namespace(out=str(out), format="md", at=None)) == 0
            report = out.read_text()
            after = {g.name: g.band.value for g in engine.snapshot.gates}
    finally:
        service.stop()
    # The live data moves while they run (a loaded machine can push p95 over a band):
    # each gate must be judged as the console judged it just before or just after.
    assert checked.keys() == console.keys()
    for name in console:
        assert checked[name] in (console[name], after[name]), (name, checked[name], console[name], after[name])
    for name in console:
        assert any(line.startswith(f"| {name} |") and (f" {console[name]}" in line or f" {after[name]}" in line)
                   for line in report.splitlines()), (name, console[name], [l for l in report.splitlines() if name in l])


async def test_a_fresh_database_is_unknown_until_the_window_is_covered(db_url, health_server):
    base, _ = health_server
    config = make_config(db_url, base, targets=("api",), interval="15s", coverage={"min_fraction": 0.8, "min_samples": 5},
                         auto_rollback={"enabled": False},
                         gates=[{"name": "error_rate", "source": "probe", "window": "5m"},
                                {"name": "uptime", "source": "probe", "window": "7d"}])
    store = Store(db_url)
    await store.open()
    await store.migrate()
    engine = Engine(config, store, lead=False)
    now = datetime.now(timezone.utc)

    def probes(start: timedelta, end: timedelta, every: timedelta, skip=lambda at: False):
        out, at = [], now - start
        while at < now - end:
            if not skip(at):
                out.append(ProbeResult(target="api", at=at, ok=True, status=200, latency_ms=5.0))
            at += every
        return out

    try:
        await store.insert_probes(probes(timedelta(seconds=50), timedelta(0), timedelta(seconds=5)))
        snap = await engine.evaluate()
        er = gate(snap, "error_rate")
        assert er.value == 0.0 and er.band is Band.UNKNOWN  # a perfect value, from one minute of five
        assert er.detail.startswith("too little data: ") and "of 5m" in er.detail
        assert er.coverage.samples == 10
        # the whole 5 minutes, and a week with a two-day hole in the middle
        hole = (now - timedelta(days=4), now - timedelta(days=2))
        await store.insert_probes(probes(timedelta(days=7), timedelta(seconds=50), timedelta(minutes=10),
                                         skip=lambda at: hole[0] <= at < hole[1]))
        await store.insert_probes(probes(timedelta(minutes=5), timedelta(seconds=50), timedelta(seconds=5)))
        snap = await engine.evaluate()
        assert gate(snap, "error_rate").band is Band.GREEN
        up = gate(snap, "uptime")
        assert up.band is Band.UNKNOWN and up.coverage.fraction < 0.8  # the gap shows
        # 121 or 122 of 168 hours, as the hour boundaries fall
        assert re.match(r"too little data: 5d 0[12]h of 7d \(780 samples\)$", up.detail), up.detail
        assert any(r.startswith(f"uptime unknown ({up.detail}") for r in snap.reasons)
    finally:
        await engine.aclose()
        await store.close()
