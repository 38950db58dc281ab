"""The go/no-go report (console/report/), section by section against a real database
seeded with a known history: gate evaluations before and after the report's moment
T, rollout actions, an auto-rollback, a review, alerts. A report for T reads what
was recorded by T and nothing after, byte for byte; outside text stays text in
Markdown and in HTML; the HTML is one file that fetches nothing, and Chromium draws it."""
from __future__ import annotations

import asyncio
import html as htmllib
import re
import shutil
import struct
import subprocess
import sys
import zlib
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import psycopg
import pytest
from markdown_it import MarkdownIt

from checks.models import Band, Bands, Condition, Coverage, CriterionMark, GateReading, ReviewDecision, Verdict
from console.config import load_config
from console.report import parse_moment, read_report, render_html, render_markdown
from console.report.data import ALERT_LIMIT
from console.rollout import make_controller

from .hostile import CORPUS

FLAG = "phase_4_deployment"
STORABLE = [t for _, t in CORPUS if "\x00" not in t]


def write_config(tmp_path: Path, db_url: str, start: datetime, *, operator: str = "tester", extra: str = "") -> Path:
    path = tmp_path / "gonogo.toml"
    path.write_text(f"""
[console]
operator = "{operator}"
timezone = "UTC"

[database]
url = "{db_url}"

[[targets]]
name = "api"
url = "http://127.0.0.1:9/health"
interval = "15s"

[[gates]]
name = "error_rate"
source = "probe"
window = "5m"

[[gates]]
name = "p95_latency"
source = "probe"
window = "5m"

[[gates]]
name = "uptime"
source = "probe"
window = "7d"

[[gates]]
name = "p1_incidents_7d"
source = "sql"
query = "select 0"
green = "< 1"
red = ">= 1"
interval = "1m"

[alerts]
cost_query = ""
events_query = ""

[burn_in]
start = "{start.isoformat()}"
days = 7
review = "{(start + timedelta(days=7, hours=17)).isoformat()}"
{extra}
""")
    return path


ERR = Bands(green=Condition.parse("< 0.1"), red=Condition.parse("> 1"))
P95 = Bands(green=Condition.parse("< 200"), red=Condition.parse("> 500"))


def reading(name, value, band, *, unit, bands, window="5m", covered=300.0, samples=20) -> GateReading:
    return GateReading(name=name, value=value, band=band, unit=unit, bands=bands, window=window,
                       coverage=Coverage(window_seconds=300, covered_seconds=covered, samples=samples))


async def db_now(db_url) -> datetime:
    async with await psycopg.AsyncConnection.connect(db_url) as c:
        return (await (await c.execute("select clock_timestamp()")).fetchone())[0]


async def act(controller, action, operator, reason, **kw):
    r = await controller.act(action, operator=operator, reason=reason, verdict=kw.pop("verdict", Verdict.GO), **kw)
    assert r.outcome == "done", r.message


async def review(controller, decision, operator, reason, marks, **kw):
    r = await controller.record_review(
        ReviewDecision(decision=decision, reason=reason, criteria=tuple(marks), **kw),
        operator=operator, verdict=Verdict.HOLD)
    assert r.outcome == "done", r.message


class Seeded:
    def __init__(self, config_path, store, controller, db_url, at, start):
        self.config_path, self.config = config_path, load_config(config_path)
        self.store, self.controller, self.db_url, self.at, self.start = store, controller, db_url, at, start

    async def report(self, at=None):
        return await read_report(self.store, self.config, at or self.at, timezone.utc)

    async def after_t(self):
        """What happens after T: none of it may change the report for T."""
        s = self.store
        await s.record_evaluations(self.at + timedelta(seconds=10), [
            reading("error_rate", 3.0, Band.RED, unit="%", bands=ERR),
            reading("p95_latency", 700.0, Band.RED, unit="ms", bands=P95),
        ])
        await act(self.controller, "advance", "cy", "after the moment", override=True, verdict=Verdict.HOLD)
        await review(self.controller, "GO", "eve", "a later review", [CriterionMark(gate="error_rate", accepted=True)])
        await s.resolve_alerts(["acked-open"])
        await s.ack_alert("resolved-in", "zed")
        await s.raise_alert("late", "rule", "critical", "LateAlert", "raised after T")
        async with await psycopg.AsyncConnection.connect(self.db_url, autocommit=True) as c:
            await c.execute("insert into gonogo.probe_hour (target, bucket, total, ok, http_5xx)"
                            " values ('api', date_bin('1 hour', %s::timestamptz, 'epoch'), 100, 0, 100)"
                            " on conflict (target, bucket) do update set ok = 0", (self.at,))


@pytest.fixture
async def seeded(store, db_url, tmp_path):
    now = await db_now(db_url)
    start = (now - timedelta(days=3)).replace(microsecond=0)
    config_path = write_config(tmp_path, db_url, start)
    c = make_controller(load_config(config_path), store)
    await act(c, "advance", "ana", "canary clean")  # 0 → 5
    await act(c, "hold", "bo", "look at p95")
    await act(c, "resume", "bo", "p95 fine again")
    await act(c, "rollback", "gonogo auto-rollback", "auto-rollback: error_rate red (> 1) sustained for 5m",
              automatic=True, verdict=Verdict.ROLLBACK)
    await review(c, "NO-GO", "dee", "p95 yellow at peak", present="ana, bo", marks=[
        CriterionMark(gate="error_rate", accepted=True, note="fine all week"),
        CriterionMark(gate="p95_latency", accepted=False, note="yellow at the Tuesday peak"),
    ])
    now = await db_now(db_url)
    # alerts: one over before the burn-in, one raised and resolved in it, one acknowledged and open
    await store.raise_alert("old", "rule", "warning", "OldAlert", "before the burn-in", at=start - timedelta(days=2))
    await store.raise_alert("resolved-in", "alertmanager", "critical", "HighErrorRate", "5xx at 2 %",
                            at=now - timedelta(hours=2))
    await store.raise_alert("acked-open", "events", "P2", "search reindex slow", "queries slowed",
                            at=now - timedelta(hours=1))
    await store.resolve_alerts(["old", "resolved-in"])
    await store.ack_alert("acked-open", "ana")
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        for table in ("gonogo.alerts", "gonogo.alert_episodes"):
            await conn.execute(f"update {table} set resolved_at = %s where fingerprint = 'old'",
                               (start - timedelta(days=1),))
    at = await db_now(db_url)
    # what each gate said by T: two written as the engine writes them now, one as
    # before migration 12 (no window or coverage), one too old at T (stale)
    await store.record_evaluations(at - timedelta(seconds=20), [
        reading("error_rate", 0.05, Band.GREEN, unit="%", bands=ERR),
        reading("p95_latency", 320.0, Band.YELLOW, unit="ms", bands=P95, covered=150.0, samples=10),
    ])
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        await conn.execute("insert into gonogo.gate_evaluations (at, gate, value, band) values"
                           " (%s, 'uptime', 99.99, 'green'), (%s, 'p1_incidents_7d', 0, 'green')",
                           (at - timedelta(seconds=30), at - timedelta(minutes=10)))
        # a week of error rate every 15 minutes before that, one hour of it yellow
        await conn.execute(
            "insert into gonogo.gate_evaluations (at, gate, value, band)"
            " select t, 'error_rate', case when t between %s and %s then 0.6 else 0.03 end, 'green'"
            " from generate_series(%s::timestamptz, %s::timestamptz, interval '15 minutes') t",
            (at - timedelta(days=2, hours=1), at - timedelta(days=2), at - timedelta(days=7),
             at - timedelta(minutes=1)))
        # three clean days of probes in the hourly rollup before T
        await conn.execute(
            "insert into gonogo.probe_hour (target, bucket, total, ok, http_5xx)"
            " select 'api', h, 240, 240, 0 from generate_series(date_bin('1 hour', %s::timestamptz, 'epoch'),"
            " %s::timestamptz - interval '1 hour', interval '1 hour') h", (start, at))
    return Seeded(config_path, store, c, db_url, at, start)


# -- section by section ----------------------------------------------------------------


async def test_the_criteria_are_each_gates_evaluation_at_t_with_window_coverage_band_and_mark(seeded):
    data = await seeded.report()
    by = {c.reading.name: c for c in data.criteria}
    assert list(by) == ["error_rate", "p95_latency", "uptime", "p1_incidents_7d"]
    err, p95, up, p1 = by.values()
    assert (err.reading.value, err.reading.band, err.reading.window, err.recorded) == (0.05, Band.GREEN, "5m", True)
    assert err.reading.coverage == Coverage(window_seconds=300, covered_seconds=300, samples=20)
    assert err.mark.accepted and err.mark.note == "fine all week"
    assert (p95.reading.value, p95.reading.band) == (320.0, Band.YELLOW) and p95.reading.coverage.samples == 10
    assert not p95.mark.accepted and p95.mark.note == "yellow at the Tuesday peak"
    assert (up.reading.value, up.reading.band, up.recorded) == (99.99, Band.GREEN, False)  # before migration 12
    assert (p1.reading.band, p1.reading.stale) == (Band.UNKNOWN, True)  # its newest record is 10 minutes old at T
    assert up.mark is None and p1.mark is None
    assert len(err.trend) >= 160 and max(hi for _, _, hi in err.trend) == 0.6
    text = render_markdown(data)
    table = text.split("## Criteria")[1].split("\n## ")[0]
    assert "| error_rate | 0\\.050 % | 5m | 5m of 5m \\(20 samples\\) | 🟢 green |" in table
    assert "| p95_latency | 320 ms | 5m | 2m 30s of 5m \\(10 samples\\) | 🟡 yellow |" in table
    assert "✔ accepted | fine all week |" in table and "✘ not accepted | yellow at the Tuesday peak |" in table
    assert "| uptime | 99\\.99 % | not recorded | not recorded | 🟢 green |" in table
    p1_row = next(line for line in table.splitlines() if line.startswith("| p1_incidents_7d |"))
    assert "⚪ unknown" in p1_row and "stale" in p1_row
    assert "were recorded before gonogo wrote a window and a coverage with each" in table


async def test_the_review_criteria_come_first_and_the_other_gates_follow_as_not_criteria(seeded, tmp_path):
    (tmp_path / "criteria").mkdir()
    path = write_config(tmp_path / "criteria", seeded.db_url, seeded.start,
                        extra='[review]\ncriteria = ["p95_latency", "uptime"]')
    data = await read_report(seeded.store, load_config(path), seeded.at, timezone.utc)
    assert [(c.reading.name, c.criterion) for c in data.criteria] == [
        ("p95_latency", True), ("uptime", True), ("error_rate", False), ("p1_incidents_7d", False)]
    assert data.verdict is Verdict.HOLD and len(data.reasons) == 2  # the rule is still over every gate
    table = render_markdown(data).split("## Criteria")[1]
    assert "| 🟢 green | " in table and table.count("| not a criterion |") == 2


async def test_the_recommendation_follows_the_verdict_rule_over_the_bands_at_t(seeded):
    data = await seeded.report()
    assert data.verdict is Verdict.HOLD  # a yellow and an unknown, no red
    text = render_markdown(data)
    assert "## Recommendation: **HOLD**" in text
    rec = text.split("## Recommendation")[1].split("\n## ")[0]
    # worst first
    assert rec.index("p1_incidents_7d unknown \\(stale\\)") < rec.index("p95_latency yellow \\(320 ms\\)")
    # with the gates after T (error_rate red), the same rule says ROLLBACK: it is the bands that decide
    await seeded.after_t()
    later = await seeded.report(seeded.at + timedelta(seconds=11))
    assert later.verdict is Verdict.ROLLBACK and later.reasons[0].startswith("error_rate red")


async def test_the_decision_is_the_newest_review_by_t_with_who_when_present_and_reason(seeded):
    text = render_markdown(await seeded.report())
    decision = text.split("## Decision")[1].split("\n## ")[0]
    assert "**NO-GO**, recorded by dee at " in decision and " UTC." in decision
    assert "- present: ana, bo" in decision and "- reason: p95 yellow at peak" in decision
    assert "the rollout was at 0 %" in decision
    before = render_markdown(await seeded.report(seeded.start))
    assert "No review recorded by " in before.split("## Decision")[1].split("\n## ")[0]


async def test_the_rollout_history_holds_the_actions_up_to_t_and_marks_the_auto_rollback(seeded):
    await seeded.after_t()
    data = await seeded.report()
    assert [(e.operator, e.action) for e in data.history] == [
        ("ana", "advance"), ("bo", "hold"), ("bo", "resume"), ("gonogo auto-rollback", "rollback")]
    assert (data.rollout.percentage, data.rollout.state) == (0, "rolled_back")
    text = render_markdown(data)
    rollout = text.split("## Rollout")[1].split("\n## ")[0]
    assert "At **0 %** (rolled back) since " in rollout
    assert "| ana | advance | 0 % → 5 % | canary clean |  |" in rollout
    assert "| gonogo auto-rollback | rollback | 5 % → 0 % | auto-rollback\\: error_rate red \\(&gt; 1\\)" \
           " sustained for 5m | AUTO |" in rollout
    assert "cy" not in rollout and "after the moment" not in text
    auto = text.split("## Auto-rollbacks")[1].split("\n## ")[0]
    assert auto.count("| 5 % → 0 % | ROLLBACK | auto-rollback\\: error_rate red") == 1
    # a moment before any action: idle at the first step, none of them
    early = render_markdown(await seeded.report(seeded.start))
    assert "At **0 %** (idle)" in early and "No rollout actions by " in early and "None by " in early


async def test_the_alerts_are_those_open_in_the_period_as_they_stood_at_t(seeded):
    await seeded.after_t()
    data = await seeded.report()
    by = {a.name: a for a in data.alerts}
    assert list(by) == ["HighErrorRate", "search reindex slow"]  # oldest first; OldAlert ended before the burn-in
    assert by["HighErrorRate"].resolved_at is not None and by["HighErrorRate"].acked_at is None  # acked after T
    assert by["search reindex slow"].resolved_at is None  # resolved after T: open at T
    assert by["search reindex slow"].acked_by == "ana"
    text = render_markdown(data)
    alerts = text.split("## Alerts and incidents")[1]
    row = next(line for line in alerts.splitlines() if "search reindex slow" in line)
    assert row.startswith("| P2 | search reindex slow | events | ") and "| open then | ana at " in row
    assert "LateAlert" not in text and "OldAlert" not in text and "zed" not in text


async def test_a_report_for_t_is_byte_identical_whatever_is_written_after_t(seeded):
    md1, html1 = render_markdown(await seeded.report()), render_html(await seeded.report())
    await seeded.after_t()
    md2, html2 = render_markdown(await seeded.report()), render_html(await seeded.report())
    assert md1 == md2 and html1 == html2
    assert " consecutive clean days of 7 by " in md1.split("\n## ")[0]
    # and the clean days count only the hours that ended by T: the failed hour in which
    # T falls is not counted at T, and ends the streak once it has ended
    assert (await seeded.report()).burn_in.clean_days >= 3
    assert (await seeded.report(seeded.at + timedelta(hours=2))).burn_in.clean_days == 0  # the failed hour after T


async def _both(seeded, at):
    data = await seeded.report(at)
    return data, render_markdown(data), render_html(data)


def _alert_row(md, name):
    return [line for line in md.split("## Alerts and incidents")[1].splitlines() if f"| {name} |" in line]


async def test_an_alert_raised_again_after_t_reads_at_t_as_its_first_episode_resolved(seeded):
    s, now = seeded.store, await db_now(seeded.db_url)
    await s.raise_alert("am:flap", "alertmanager", "critical", "Flapping", "first time", now - timedelta(minutes=30))
    await s.ack_alert("am:flap", "ana")
    await s.resolve_alerts(["am:flap"])
    t = await db_now(seeded.db_url)
    data, md1, html1 = await _both(seeded, t)
    (flap,) = [a for a in data.alerts if a.name == "Flapping"]
    assert flap.resolved_at is not None and flap.acked_by == "ana" and flap.summary == "first time"
    (row,) = _alert_row(md1, "Flapping")
    assert "open then" not in row and "still firing then" not in row and "| ana at " in row
    # After T: the same alert again (a new episode, its own ack), and one whose
    # startsAt lies before T but which the database first heard of after T.
    await s.raise_alert("am:flap", "alertmanager", "warning", "Flapping", "second time")
    await s.ack_alert("am:flap", "bo")
    await s.raise_alert("am:late", "alertmanager", "critical", "SeenLate", "", t - timedelta(minutes=5))
    _, md2, html2 = await _both(seeded, t)
    assert md2 == md1 and html2 == html1
    assert "second time" not in md2 and "SeenLate" not in md2 and "bo at" not in md2
    # and a report for now holds both episodes, oldest first
    later, md3, _ = await _both(seeded, await db_now(seeded.db_url))
    flaps = [a for a in later.alerts if a.name == "Flapping"]
    assert [(a.summary, a.resolved_at is None, a.acked_by) for a in flaps] == [
        ("first time", False, "ana"), ("second time", True, "bo")]
    assert "SeenLate" in md3


async def test_an_alert_warning_at_t_that_turns_critical_after_t_reads_as_warning_at_t(seeded):
    s = seeded.store
    await s.raise_alert("rule:gate:p95_latency", "rule", "warning", "p95_latency yellow", "320 ms")
    await s.ack_alert("rule:gate:p95_latency", "ana")
    t = await db_now(seeded.db_url)
    data, md1, html1 = await _both(seeded, t)
    (p95,) = [a for a in data.alerts if a.source == "rule"]
    assert (p95.severity, p95.name, p95.summary, p95.resolved_at, p95.acked_by) == (
        "warning", "p95_latency yellow", "320 ms", None, "ana")
    await s.raise_alert("rule:gate:p95_latency", "rule", "critical", "p95_latency red", "700 ms")
    _, md2, html2 = await _both(seeded, t)
    assert md2 == md1 and html2 == html1
    (row,) = _alert_row(md2, "p95_latency yellow")
    assert row.startswith("| warning | p95_latency yellow | rule | ") and "| open then | ana at " in row
    assert "p95_latency red" not in md2 and "700 ms" not in md2
    # later: the warning episode ended when the critical one began, which no ack silences
    later, _, _ = await _both(seeded, await db_now(seeded.db_url))
    warn, crit = [a for a in later.alerts if a.source == "rule"]
    assert warn.severity == "warning" and warn.resolved_at == crit.first_at
    assert (crit.severity, crit.summary, crit.resolved_at, crit.acked_at) == ("critical", "700 ms", None, None)


async def test_alert_episodes_are_found_by_fingerprint_and_the_report_lists_a_bounded_number(seeded):
    async with await psycopg.AsyncConnection.connect(seeded.db_url, autocommit=True) as c:
        await c.execute(
            "insert into gonogo.alert_episodes (fingerprint, source, severity, name, first_at, seen_at, resolved_at)"
            " select 'f' || (i % 500), 'rule', 'warning', 'n', t, t, t + interval '1 minute'"
            " from generate_series(1, 20000) i, lateral (select now() - i * interval '1 minute' as t) x")
        await c.execute("analyze gonogo.alert_episodes")
        # every raise looks up its alert's open episode: by fingerprint, however long the history
        plan = "\n".join(r[0] for r in await (await c.execute(
            "explain update gonogo.alert_episodes set resolved_at = now()"
            " where fingerprint = 'f1' and resolved_at is null and first_at <> now()")).fetchall())
        assert "alert_episodes_fingerprint" in plan and "Seq Scan" not in plan, plan
    data = await seeded.report()
    assert len(data.alerts) == ALERT_LIMIT and data.alerts_total > ALERT_LIMIT  # bounded, and counted


async def test_the_cli_writes_the_same_bytes_for_the_same_at_and_names_a_bad_at(seeded, tmp_path):
    cfg = str(seeded.config_path)
    at = seeded.at.isoformat()

    def run(*args):
        return subprocess.run([sys.executable, "-m", "console", "report", "--config", cfg, *args],
                              capture_output=True, text=True, timeout=60)

    first = await asyncio.to_thread(run, "--at", at, "--out", str(tmp_path / "a.html"))
    assert first.returncode == 0, first.stderr
    await seeded.after_t()
    second = await asyncio.to_thread(run, "--at", at, "--out", str(tmp_path / "b.html"))
    md = await asyncio.to_thread(run, "--at", at)
    assert second.returncode == 0 and md.returncode == 0
    a, b = (tmp_path / "a.html").read_bytes(), (tmp_path / "b.html").read_bytes()
    assert a == b and a.startswith(b"<!DOCTYPE html>")  # the format from the suffix
    assert md.stdout.startswith("# Go/no-go report: phase_4_deployment\n")
    assert md.stdout.rstrip("\n") == render_markdown(await seeded.report()).rstrip("\n")
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file became the report
    bad = await asyncio.to_thread(run, "--at", "next tuesday")
    assert bad.returncode == 2 and "--at" in bad.stderr and "next tuesday" in bad.stderr
    assert "Traceback" not in bad.stderr
    future = await asyncio.to_thread(run, "--at", "2999-01-01 09:00")
    assert future.returncode == 2 and "--at" in future.stderr


def test_a_time_without_a_zone_is_read_in_the_consoles_zone():
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    assert parse_moment("2025-11-24 09:00", berlin) == datetime(2025, 11, 24, 8, 0, tzinfo=timezone.utc)
    assert parse_moment("2025-11-24T09:00:00Z", berlin) == datetime(2025, 11, 24, 9, 0, tzinfo=timezone.utc)
    assert parse_moment("2025-07-01T09:00+02:00", timezone.utc) == datetime(2025, 7, 1, 7, 0, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="not a time"):
        parse_moment("yesterday", berlin)


# -- outside text --------------------------------------------------------------------------


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)


@pytest.fixture
async def hostile_seeded(store, db_url, tmp_path):
    now = await db_now(db_url)
    start = now - timedelta(days=1)
    config = load_config(write_config(tmp_path, db_url, start))
    c = make_controller(config, store)
    for i, text in enumerate(STORABLE[:8]):
        await act(c, "advance" if i % 2 == 0 else "rollback", text[:200], text, override=True,
                  verdict=Verdict.HOLD)
        await store.raise_alert(f"h{i}", "alertmanager", text[:50], text, text, at=now - timedelta(minutes=30))
    await review(c, "NO-GO", STORABLE[-2], STORABLE[-2], present=STORABLE[-3], marks=[
        CriterionMark(gate="error_rate", accepted=False, note=t) for t in STORABLE[-2:-1]])
    await store.record_evaluations(await db_now(db_url), [
        reading("error_rate", 0.05, Band.GREEN, unit="%", bands=ERR)])
    return await read_report(store, config, await db_now(db_url), timezone.utc)


async def test_hostile_text_stays_text_in_the_html(hostile_seeded):
    page = render_html(hostile_seeded)
    found = _Elements()
    found.feed(page)
    ours = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "p", "code", "strong", "section",
            "span", "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "figure", "figcaption", "svg", "rect",
            "line", "text", "polyline", "circle"}
    assert set(found.tags) <= ours, set(found.tags) - ours
    assert found.tags.count("h1") == 1 and "script" not in found.tags and "img" not in found.tags
    assert not {name for name, _ in found.attrs} & {"href", "src", "onload", "onerror", "xmlns"}
    assert "[@click=app.quit]quit[/]" in htmllib.unescape(page)  # shown, literally
    assert "\x1b" not in page and "\\x1b]0;pwned-title\\x07" in page  # controls made visible
    assert "\u202e" not in page


async def test_hostile_text_stays_text_in_the_markdown(hostile_seeded):
    text = render_markdown(hostile_seeded)
    rendered = MarkdownIt("commonmark").enable("table").render(text)
    assert "<a " not in rendered and "<img" not in rendered and "<script" not in rendered
    assert rendered.count("<h1>") == 1
    for table in rendered.split("<table>")[1:]:
        head, body = table.split("</thead>")
        cells = len(re.findall(r"<th[ >]", head))
        for row in body.split("<tr>")[1:]:
            assert len(re.findall(r"<td[ >]", row)) == cells, row


async def test_the_html_refers_to_nothing_outside_itself(seeded):
    page = render_html(await seeded.report())
    assert not re.search(r"\b(src|href|xlink:href|xmlns|srcset|action)\s*=", page)
    assert "url(" not in page and "@import" not in page and "<link" not in page and "<script" not in page
    # no reference to the network at all: the seeded data holds no URL, so any would be ours
    assert "http://" not in page and "https://" not in page and "//" not in re.sub(r"<code>.*?</code>", "", page)


# -- Chromium --------------------------------------------------------------------------------


def png_colours(png: bytes) -> int:
    """How many distinct colours a PNG (8-bit RGB or RGBA, as Chromium writes) holds."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        chunk = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * bpp
    prev, colours = bytearray(stride), set()
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        colours.update(bytes(line[i:i + 3]) for i in range(0, stride, bpp * 4))  # every 4th pixel is plenty
        prev = line
    return len(colours)


def chromium(*args, tmp_path) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("needs Debian's chromium (scripts/test installs it)")
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}", *args],
                          capture_output=True, timeout=90)


async def test_chromium_draws_the_html_report_and_reads_every_section(seeded, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(await seeded.report()))
    png = tmp_path / "report.png"
    shot = await asyncio.to_thread(chromium, f"--screenshot={png}", "--window-size=1200,2000", page.as_uri(),
                                   tmp_path=tmp_path)
    assert png.exists(), shot.stderr.decode(errors="replace")[-2000:]
    data = png.read_bytes()
    assert len(data) > 50_000 and png_colours(data) > 50  # text, tables, band colours, charts: not a blank page
    dom = await asyncio.to_thread(chromium, "--dump-dom", page.as_uri(), tmp_path=tmp_path)
    text = dom.stdout.decode()
    for section in ("Decision", "Recommendation", "Criteria", "Rollout", "Auto-rollbacks", "Alerts and incidents"):
        assert f"<h2>{section}</h2>" in text
    assert text.count("<svg") == 4 and "p95_latency" in text and "HighErrorRate" in text
