"""The command line as scripts use it: exit codes, JSON, errors without tracebacks."""
import asyncio
import json
import subprocess
import sys
from datetime import datetime

import pytest

SUBCOMMANDS = ["demo", "tui", "watch", "check", "status"]
# A watch that evaluates every 250 ms (the default is 5 s): its next line comes sooner.
QUICK_WATCH = '[console]\nrefresh = "250ms"\n'


def gonogo(*args, cwd=None, timeout=60, env=None):
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=env)


def gonogo_all(*calls, timeout=60) -> list[subprocess.CompletedProcess]:
    """Several independent `gonogo` calls at once (each its own process, as a script
    runs them); their results in order. Most of a call is Python starting up: started
    together, they overlap."""
    procs = [(args, subprocess.Popen([sys.executable, "-m", "console", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)) for args in calls]
    results = []
    for args, p in procs:
        out, err = p.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return results


def write_config(tmp_path, db_url, base, *, extra=""):
    path = tmp_path / "gonogo.toml"
    path.write_text(f"""
[database]
url = "{db_url}"

[[targets]]
name = "api"
url = "{base}/health/api"
interval = "1s"
timeout = "1s"

[[gates]]
name = "error_rate"
source = "probe"

[[gates]]
name = "checks_passing"
source = "probe"
window = "1m"

[alerts]
cost_query = ""
events_query = ""

[auto_rollback]
gates = ["error_rate"]

[coverage]  # these tests judge a fresh database at once; coverage has tests of its own
min_fraction = 0.0
min_samples = 1
{extra}
""")
    return path


def test_version_and_help_everywhere():
    version, top, *subs = gonogo_all(["--version"], ["--help"],
                                     *([sub, flag] for sub in SUBCOMMANDS for flag in ("--help", "--version")))
    assert version.returncode == 0 and version.stdout.startswith("gonogo ")
    assert top.returncode == 0
    for sub in SUBCOMMANDS:
        assert sub in top.stdout
    for sub, (help_, version_) in zip(SUBCOMMANDS, zip(subs[::2], subs[1::2])):
        assert help_.returncode == 0 and "--config" in help_.stdout, sub
        assert version_.returncode == 0, sub


def test_bad_usage_exits_2_without_traceback():
    r = gonogo("frobnicate")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "invalid choice" in r.stderr


def test_bad_config_exits_2_naming_file_key_and_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[targets]]\nname = "api"\nurl = "http://127.0.0.1:1/h"\nintervl = "5s"\n')
    r = gonogo("check", "--config", str(bad))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert str(bad) in r.stderr and "intervl" in r.stderr and "line 4" in r.stderr


def test_missing_config_exits_2(tmp_path):
    r = gonogo("check", cwd=tmp_path)
    assert r.returncode == 2 and "no config file" in r.stderr


def test_check_json_contract_go_then_not_go(tmp_path, db_url, health_server):
    base, state = health_server
    cfg = write_config(tmp_path, db_url, base)
    r = gonogo("check", "--json", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["verdict"] == "GO"
    datetime.fromisoformat(out["evaluated_at"])
    gates = {g["name"]: g for g in out["gates"]}
    assert set(gates) == {"error_rate", "checks_passing"}
    assert gates["checks_passing"]["value"] == 100.0 and gates["checks_passing"]["band"] == "green"
    state.status = 500
    r, table = gonogo_all(["check", "--json", "--config", str(cfg)], ["check", "--config", str(cfg)])
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["verdict"] in ("HOLD", "ROLLBACK")
    assert {g["name"]: g for g in out["gates"]}["checks_passing"]["band"] == "red"
    assert table.returncode == 1 and "checks_passing" in table.stdout and "verdict:" in table.stdout  # the table form


def test_check_exits_3_when_the_database_is_unavailable(tmp_path, health_server):
    base, _ = health_server
    cfg = write_config(tmp_path, "postgresql://gonogo:hunter2@127.0.0.1:1/x", base)
    r = gonogo("check", "--json", "--config", str(cfg))
    assert r.returncode == 3
    assert "database unavailable" in r.stderr and "hunter2" not in r.stderr and "Traceback" not in r.stderr


def test_database_url_from_environment_overrides_config(tmp_path, db_url, health_server):
    import os

    base, _ = health_server
    cfg = write_config(tmp_path, "postgresql://nobody@127.0.0.1:1/x", base)
    env = {**os.environ, "GONOGO_DATABASE_URL": db_url}
    r = gonogo("check", "--json", "--config", str(cfg), env=env)
    assert r.returncode == 0, r.stderr


def test_status_json_contract(tmp_path, db_url, health_server):
    base, _ = health_server
    cfg = write_config(tmp_path, db_url, base)
    r = gonogo("status", "--json", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["flag"] == "phase_4_deployment" and out["percentage"] == 0
    assert out["state"] == "idle" and isinstance(out["version"], int) and out["history"] == []


def test_rollout_commands_exit_codes_expect_and_status_history(tmp_path, db_url, health_server):
    base, _ = health_server
    cfg = str(write_config(tmp_path, db_url, base))
    r = gonogo("advance", "--config", cfg)
    assert r.returncode == 2 and "--reason" in r.stderr  # bad usage
    r = gonogo("advance", "--reason", "canary clean", "--expect", "0", "--config", cfg)
    assert r.returncode == 0, r.stderr
    assert "advanced: 0 % → 5 % of phase_4_deployment" in r.stdout
    r = gonogo("advance", "--reason", "again", "--config", cfg)  # the 12 h soak has not elapsed
    assert r.returncode == 1 and "soak has" in r.stderr and "override" in r.stderr
    r = gonogo("advance", "--reason", "stale", "--expect", "0", "--override", "--config", cfg)
    assert r.returncode == 1 and "you saw 0 %" in r.stderr
    r = gonogo("advance", "--reason", "board approved", "--override", "--json", "--config", cfg)
    assert r.returncode == 0 and json.loads(r.stdout)["override"] is True
    assert gonogo("hold", "--reason", "look at p95", "--config", cfg).returncode == 0
    assert gonogo("hold", "--reason", "twice", "--config", cfg).returncode == 1
    assert gonogo("resume", "--reason", "fine", "--config", cfg).returncode == 0
    assert gonogo("rollback", "--reason", "pager", "--config", cfg).returncode == 0
    out = json.loads(gonogo("status", "--json", "--config", cfg).stdout)
    assert out["percentage"] == 0 and out["state"] == "rolled_back" and out["version"] == 6
    assert [h["action"] for h in out["history"]] == ["advance", "advance", "hold", "resume", "rollback"]
    assert out["history"][1]["override"] is True and out["history"][0]["operator"]
    assert all(h["automatic"] is False for h in out["history"])
    # the audit chain verifies, then a tampered row is named
    r = gonogo("audit", "verify", "--config", cfg)
    assert r.returncode == 0 and "5 events" in r.stdout
    import psycopg

    with psycopg.connect(db_url) as c:
        bad = c.execute("select min(id) + 1 from gonogo.rollout_events").fetchone()[0]
        c.execute("alter table gonogo.rollout_events disable trigger rollout_events_append_only")
        c.execute("update gonogo.rollout_events set operator = 'mallory' where id = %s", (bad,))
    r = gonogo("audit", "verify", "--config", cfg)
    assert r.returncode == 1 and f"event id {bad}" in r.stderr
    # the report
    out_file = tmp_path / "report.md"
    r = gonogo("report", "--out", str(out_file), "--config", cfg)
    assert r.returncode == 0
    report = out_file.read_text()
    for heading in ("# Go/no-go report: phase_4_deployment", "## Decision", "## Recommendation:", "## Criteria",
                    "## Rollout"):
        assert heading in report
    assert "board approved" in report and "OVERRIDE" in report


def test_watch_runs_the_engine_without_ui_and_stops_cleanly_on_sigterm(tmp_path, db_url, health_server):
    import signal
    import time

    import psycopg

    base, state = health_server
    cfg = write_config(tmp_path, db_url, base, extra=QUICK_WATCH)
    p = subprocess.Popen([sys.executable, "-m", "console", "watch", "--config", str(cfg)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = p.stdout.readline()
        assert " GO " in first and "(leader)" in first and "all gates green" in first
        state.status = 503
        deadline = time.monotonic() + 20
        line = ""
        while time.monotonic() < deadline and "ROLLBACK" not in line and "HOLD" not in line:
            line = p.stdout.readline()
        assert "checks_passing red" in line or "error_rate" in line
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
    assert p.returncode == 0 and "Traceback" not in err
    with psycopg.connect(db_url) as c:
        assert c.execute("select count(*) from gonogo.probe_results").fetchone()[0] >= 2


def test_watch_interrupted_exits_130_and_an_empty_reason_is_bad_usage(tmp_path, db_url, health_server):
    import signal

    base, _ = health_server
    cfg = write_config(tmp_path, db_url, base)
    r = gonogo("rollback", "--reason", "   ", "--config", str(cfg))
    assert r.returncode == 2 and "--reason" in r.stderr
    p = subprocess.Popen([sys.executable, "-m", "console", "watch", "--config", str(cfg)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline()  # running: it printed its first verdict
    finally:
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=20)
    assert p.returncode == 130 and "Traceback" not in err


def test_a_bug_exits_1_with_its_traceback_in_the_log_not_3(tmp_path, db_url, health_server, monkeypatch, capsys):
    from console import cli
    from console.cli.common import Command, store_session

    base, _ = health_server
    cfg = write_config(tmp_path, db_url, base)

    async def broken(config):
        async with store_session(config) as store:
            await store.rollout_view(config.rollout.flag, config.rollout.steps, config.rollout.soak_for)
            raise KeyError("no such column: percentage")  # what a bug looks like: not a database fault

    monkeypatch.setitem(cli.COMMANDS, "status", Command("status", lambda config, args: asyncio.run(broken(config))))
    code = cli.main(["status", "--config", str(cfg)])
    err = capsys.readouterr().err
    assert code == 1 and "internal error in `status`" in err and "a bug" in err and "Traceback" not in err
    log = err.split("the traceback is in ")[1].rstrip().rstrip(")")
    text = open(log).read()
    assert "Traceback" in text and "no such column: percentage" in text


def test_watch_prints_again_when_only_the_database_reason_changes():
    """An outage whose reason changes (refused, then timing out) is news to whoever
    tails `gonogo watch`: the line is printed again, with the new reason."""
    from checks.models import SourceHealth, Verdict
    from console.cli.running import watch_line

    class Snap:
        verdict, reasons, leader = Verdict.HOLD, ("database unavailable",), True
        at = datetime(2026, 11, 26, 3, 0)

        def __init__(self, reason):
            self.database = SourceHealth(name="database", ok=False, reason=reason)

    (k1, line1), (k2, line2) = watch_line(Snap("connection refused")), watch_line(Snap("timed out after 2s"))
    assert k1 != k2 and "connection refused" in line1 and "timed out after 2s" in line2
    assert watch_line(Snap("connection refused"))[0] == k1
