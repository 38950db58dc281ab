"""The hostile corpus through the output of every CLI command: status, check, watch,
the actions, retry, audit verify and report. The terminal gets no control character
from the data, JSON carries the exact text (escaped), and the Markdown report renders
without a single heading, link, image or HTML tag that gonogo did not write."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import psycopg
import pytest
from markdown_it import MarkdownIt

from .hostile import CORPUS, failing_deploy_script, foreign_controls
from .conftest import create_db, drop_db, in_other_process
from .test_cli import gonogo

STORABLE = [(label, t) for label, t in CORPUS if "\x00" not in t]
FLAG = "phase_4_deployment"


def foreign(out: str) -> list[str]:
    """CLI output is plain text: any control character but newline came from data."""
    return foreign_controls(out, terminal=False)


def hostile_config(tmp_path, db_url, base):
    script = failing_deploy_script(tmp_path, [t for _, t in STORABLE])
    path = tmp_path / "hostile.toml"
    path.write_text(f"""
[console]
operator = "ops[/][@click=app.quit] <b>|x|</b>"

[database]
url = "{db_url}"

[[targets]]
name = "aux[/]"
url = "{base}/health/aux"
interval = "1s"
timeout = "1s"

[[gates]]
name = "err[/]rate [link=x]"
source = "probe"
metric = "error_rate"

[[gates]]
name = "# <h1>|checks|</h1>"
source = "probe"
metric = "checks_passing"
window = "1m"

[alerts]
cost_query = ""
events_query = ""

[auto_rollback]
gates = ["err[/]rate [link=x]"]

[actuator]
type = "command"
command = [{json.dumps(sys.executable)}, {json.dumps(str(script))}]
retries = 0
timeout = "10s"
""")
    return path


# The audit key every process of these tests signs and verifies with: the seeded
# database is made once for the module, and its events must verify in each test.
AUDIT_KEY = "cd" * 32


@pytest.fixture(autouse=True)
def _audit_key(monkeypatch):
    monkeypatch.setenv("GONOGO_AUDIT_KEY", AUDIT_KEY)


def seed(db_url):
    """Alerts and audit events whose every text is hostile (another console wrote them)."""
    body = ("        await c.act('advance', operator=args[:60], reason=args, verdict=Verdict.GO)\n"
            "        await c.act('rollback', operator=args[:60], reason=args, verdict=Verdict.GO)\n"
            "        await s.raise_alert('ev:' + str(hash(args)), 'events', args[:20], args, args)\n")
    in_other_process(db_url, body, [t for _, t in STORABLE], timeout=120,
                     env={**os.environ, "GONOGO_AUDIT_KEY": AUDIT_KEY})


@pytest.fixture(scope="module")
def seeded(pg_server):
    """The hostile database, seeded once for the module: each test gets a copy."""
    name = create_db(pg_server)
    seed(pg_server.get_uri(name))
    yield name
    drop_db(pg_server, name)


@pytest.fixture
def hostile(tmp_path, pg_server, seeded, health_server):
    base, _ = health_server
    name = create_db(pg_server, template=seeded)
    yield hostile_config(tmp_path, pg_server.get_uri(name), base)
    drop_db(pg_server, name)


def run(*args, cfg):
    r = gonogo(*args, "--config", str(cfg), timeout=120)
    assert "Traceback" not in r.stderr, r.stderr
    bad = foreign(r.stdout) + foreign(r.stderr)
    assert not bad, f"gonogo {' '.join(args)} printed control characters from the data: {bad}"
    return r


def test_status_and_status_json_keep_the_text_and_show_it_inert(hostile):
    r = run("status", cfg=hostile)
    assert r.returncode == 0
    assert "close[/]tag" in r.stdout and "title\\x1b]0;pwned-title\\x07after" in r.stdout
    assert "bidi \\u202eevil\\u202c" in r.stdout
    j = run("status", "--json", cfg=hostile)
    history = json.loads(j.stdout)["history"]
    reasons = {h["reason"] for h in history}
    for _, t in STORABLE:  # JSON carries the exact text, escaped by JSON itself
        assert t in reasons
    assert j.stdout.isascii()


def test_check_and_check_json(hostile):
    r = run("check", cfg=hostile)
    assert r.returncode in (0, 1)
    assert "err[/]rate [link=x]" in r.stdout
    j = run("check", "--json", cfg=hostile)
    assert {g["name"] for g in json.loads(j.stdout)["gates"]} == {"err[/]rate [link=x]", "# <h1>|checks|</h1>"}


def test_actions_retry_and_audit_verify(hostile):
    reason = "\x1b]0;title\x07[/][@click=app.quit]"
    r = run("rollback", "--reason", reason, cfg=hostile)
    # the deploy script fails with the corpus on stderr: reported, made visible
    assert r.returncode == 1
    assert "\\x1b]0;pwned-title\\x07" in r.stdout + r.stderr
    j = run("rollback", "--reason", reason, "--json", cfg=hostile)
    assert json.loads(j.stdout)["outcome"] == "done" and j.stdout.isascii()
    run("retry", cfg=hostile)
    v = run("audit", "verify", cfg=hostile)
    assert v.returncode == 0, v.stdout + v.stderr
    with psycopg.connect(_db(hostile)) as c:
        assert c.execute("select reason from gonogo.rollout_events order by id desc limit 1").fetchone()[0] == reason


def _db(cfg) -> str:
    for line in cfg.read_text().splitlines():
        if line.startswith("url = \"postgresql"):
            return line.split('"')[1]
    raise AssertionError("no database url")


def test_report_renders_no_markup_of_the_data(hostile, tmp_path):
    out = tmp_path / "report.md"
    r = run("report", "--out", str(out), cfg=hostile)
    assert r.returncode == 0
    text = out.read_text()
    assert not foreign(text)
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert "<a " not in html and "<img" not in html and "<script" not in html and "<b>" not in html
    assert html.count("<h1>") == 1 and "<h1>&lt;" not in html  # the report's own title only
    # every table row keeps its columns: a | in a name or a reason cannot add a cell
    for table in html.split("<table>")[1:]:
        head, body = table.split("</thead>")
        cells = len(re.findall(r"<th[ >]", head))
        for row in body.split("<tr>")[1:]:
            assert len(re.findall(r"<td[ >]", row)) == cells, row
    assert "close[/]tag" in html  # and the text is there, literally
    assert "[@click=app.quit]quit[/]" in html


def test_watch_prints_nothing_raw(hostile):
    p = subprocess.Popen([sys.executable, "-m", "console", "watch", "--config", str(hostile)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = p.stdout.readline()  # its first verdict, with the hostile gate names
        # and what it prints after: the alert rules' first round (1 s after the start), more evaluations
        time.sleep(2)
    finally:
        os.kill(p.pid, signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    out = first + out
    assert "err[/]rate" in out or "all gates green" in out, out + err
    assert not foreign(out) and not foreign(err), (out, err)


def test_a_token_in_the_actuator_url_path_or_query_or_header_is_never_shown(tmp_path, db_url, health_server, monkeypatch):
    from .test_cli import write_config

    monkeypatch.setenv("HOOK_TOKEN", "hdr-s3cr3t-value-123")
    # nothing listens on port 9: the actuator fails, and its error names the URL
    cfg = write_config(tmp_path, db_url, health_server[0], extra="""
[actuator]
type = "http"
url = "http://127.0.0.1:9/hooks/T0KEN-IN-PATH-42?weird_param=QU3RY-S3CRET"
headers = { Authorization = "Bearer ${HOOK_TOKEN}" }
retries = 0
timeout = "1s"
""")
    outputs = [run("rollback", "--reason", "test", cfg=cfg), run("status", cfg=cfg), run("status", "--json", cfg=cfg),
               run("report", cfg=cfg)]
    assert "NOT applied" in outputs[0].stdout + outputs[0].stderr or "not applied" in (outputs[0].stdout + outputs[0].stderr).lower()
    assert "127.0.0.1:9" in outputs[1].stdout  # the host is shown: the operator can tell where it went
    for r in outputs:
        for secret in ("T0KEN-IN-PATH-42", "QU3RY-S3CRET", "hdr-s3cr3t-value-123", "weird_param"):
            assert secret not in r.stdout + r.stderr
