"""The go/no-go report as one self-contained HTML file (pure over ReportData): the
same sections as the Markdown, the CSS inline, each criterion's 7-day chart as
inline SVG (svg.py). Nothing is fetched: no font, script, stylesheet or image by
URL, and a Content-Security-Policy that forbids any, should a value ever slip one
in. Every outside value is made visible (control characters) and HTML-escaped."""
from __future__ import annotations

import html

from checks.durations import duration_text
from checks.times import markers_in_window
from widgets.literal import visible

from .data import STALE_AFTER, TREND_BUCKET, TREND_SPAN, ReportData
from .svg import trend_svg
from .text import (
    RULE, WHAT_IT_MEANS, coverage_text, mark_text, moment_arg, period_text, when, window_text, zone_words,
)

CSS = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #1b1b1b; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f0f0f0; white-space: nowrap; }
td.short { white-space: nowrap; }
.muted { color: #555; }
.verdict { display: inline-block; padding: 0.1em 0.6em; border-radius: 4px; font-weight: bold; }
.GO { background: #cde8d3; } .HOLD { background: #f6e3a8; } .ROLLBACK { background: #f2b8b3; }
.band-green { background: #e3f3e6; } .band-yellow { background: #fbf0cf; }
.band-red { background: #f8dcda; } .band-unknown { background: #eee; }
figure { margin: 1em 0; } figcaption { font-weight: bold; margin-bottom: 0.2em; }
.dot.green { color: #2e7d32; } .dot.yellow { color: #c99a00; } .dot.red { color: #c62828; }
.dot.unknown { color: #9e9e9e; }
svg.trend { max-width: 100%; height: auto; }
svg.trend text { font-family: sans-serif; font-size: 10px; fill: #333; }
svg.trend text.mark { fill: #6b3fa0; } svg.trend text.empty { font-size: 12px; fill: #777; }
"""
# Nothing may be fetched: inline styles only, no script, no image but data: URIs.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def esc(value: object, limit: int = 2000) -> str:
    """Outside text as inert HTML on one line."""
    return html.escape(visible(value, limit=limit), quote=True)


def render_html(data: ReportData) -> str:
    z = data.zone
    head = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            f"<title>Go/no-go report: {esc(data.flag)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n")
    parts = [
        head,
        f"<header>\n<h1>Go/no-go report: {esc(data.flag)}</h1>\n<p>{period_text(data)}</p>\n",
        f'<p class="muted">As the database stood at <strong>{when(data.at, z)}</strong>; every time in'
        f" {zone_words(data.at, z)}. <code>gonogo report --at {moment_arg(data.at)}</code> writes this report"
        " again.</p>\n</header>\n",
        _decision(data), _recommendation(data), _criteria(data), _rollout(data), _auto_rollbacks(data),
        _alerts(data), "</body>\n</html>\n",
    ]
    return "".join(parts)


def _section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}">\n<h2>{title}</h2>\n{body}</section>\n'


def _verdict(word: str) -> str:
    cls = {"GO": "GO", "HOLD": "HOLD", "ROLLBACK": "ROLLBACK", "NO-GO": "ROLLBACK"}.get(word, "HOLD")
    return f'<span class="verdict {cls}">{html.escape(word)}</span>'


def _decision(data: ReportData) -> str:
    r, z = data.review, data.zone
    if r is None:
        return _section("decision", "Decision", f"<p>No review recorded by {when(data.at, z)}.</p>\n")
    override = " as an <strong>OVERRIDE</strong> (over criteria not accepted)" if r.override else ""
    body = (f"<p>{_verdict(r.decision)} recorded by {esc(r.operator)} at {when(r.at, z)}{override}.</p>\n<ul>\n"
            f"<li>present: {esc(r.present) if r.present.strip() else 'nobody else named'}</li>\n"
            f"<li>reason: {esc(r.reason)}</li>\n"
            f"<li>the gates said {esc(r.verdict)} then; the rollout was at {r.percentage} %</li>\n</ul>\n")
    return _section("decision", "Decision", body)


def _recommendation(data: ReportData) -> str:
    items = "".join(f"<li>{esc(r)}</li>\n" for r in data.reasons) or "<li>every gate green</li>\n"
    body = (f"<p>{_verdict(data.verdict.value)} by the verdict rule ({RULE}), over each gate's evaluation at"
            f" {when(data.at, data.zone)}: {WHAT_IT_MEANS[data.verdict]}.</p>\n<ul>\n{items}</ul>\n")
    return _section("recommendation", "Recommendation", body)


def _criteria(data: ReportData) -> str:
    z = data.zone
    if not data.criteria:
        return _section("criteria", "Criteria", "<p>No gates configured.</p>\n")
    rows = []
    for c in data.criteria:
        r = c.reading
        detail = f' <span class="muted">({esc(r.detail)})</span>' if r.detail else ""
        note = esc(c.mark.note) if c.mark is not None and c.mark.note else ""
        rows.append(f'<tr class="band-{r.band.value}"><td>{esc(r.name)}</td><td>{esc(r.shown)}{detail}</td>'
                    f'<td class="short">{esc(window_text(c))}</td><td>{esc(coverage_text(c))}</td>'
                    f'<td class="short"><span class="dot {r.band.value}">●</span> {r.band.value}</td>'
                    f"<td>{when(c.evaluated_at, z)}</td>"
                    f'<td class="short">{mark_text(c)}</td><td>{note}</td></tr>\n')
    notes = (f'<p class="muted">Each gate\'s newest evaluation recorded at or before {when(data.at, z)}; one'
             f" older than {duration_text(STALE_AFTER)} is stale, so unknown (never green).")
    if data.unrecorded:
        notes += (f" The evaluations of {', '.join(esc(n) for n in data.unrecorded)} were recorded before gonogo"
                  " wrote a window and a coverage with each: not recorded.")
    notes += "</p>\n"
    start = data.at - TREND_SPAN
    markers = markers_in_window(data.history, start, data.at)
    charts = []
    for c in data.criteria:
        r = c.reading
        svg = trend_svg(c.trend, start=start, end=data.at, bands=r.bands, zone=z, markers=markers,
                        bucket=TREND_BUCKET, title=f"{visible(r.name)}: 7 days to {when(data.at, z)}")
        worst = "highest" if r.bands is None or r.bands.green.lower_is_better else "lowest"
        charts.append(f"<figure>\n<figcaption>{esc(r.name)} <span class=\"muted\">— 7 days to {when(data.at, z)},"
                      f" each hour's {worst} value; bands shaded, rollout actions marked</span></figcaption>\n"
                      f"{svg}\n</figure>\n")
    body = ("<table>\n<thead><tr><th>gate</th><th>value</th><th>window</th><th>coverage</th><th>band</th>"
            "<th>evaluated</th><th>mark</th><th>note</th></tr></thead>\n<tbody>\n" + "".join(rows)
            + "</tbody>\n</table>\n" + notes + "".join(charts))
    return _section("criteria", "Criteria", body)


def _rollout(data: ReportData) -> str:
    ro, z = data.rollout, data.zone
    since = f" since {when(ro.since, z)}" if ro.since else ""
    body = (f"<p>At <strong>{ro.percentage} %</strong> ({ro.state.replace('_', ' ')}){since};"
            f" steps {', '.join(map(str, ro.steps))} %.</p>\n")
    if not data.history:
        body += f"<p>No rollout actions by {when(data.at, z)}.</p>\n"
    else:
        rows = "".join(f"<tr><td>{when(e.at, z)}</td><td>{esc(e.operator)}</td><td>{esc(e.action)}</td>"
                       f"<td>{e.from_pct} % → {e.to_pct} %</td><td>{esc(e.reason)}</td><td>{e.marks}</td></tr>\n"
                       for e in data.history)
        body += ("<table>\n<thead><tr><th>time</th><th>operator</th><th>action</th><th>from → to</th>"
                 f"<th>reason</th><th>marks</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n")
    return _section("rollout", "Rollout", body)


def _auto_rollbacks(data: ReportData) -> str:
    if not data.auto_rollbacks:
        return _section("auto-rollbacks", "Auto-rollbacks", f"<p>None by {when(data.at, data.zone)}.</p>\n")
    rows = "".join(f"<tr><td>{when(e.at, data.zone)}</td><td>{e.from_pct} % → {e.to_pct} %</td>"
                   f"<td>{esc(e.verdict)}</td><td>{esc(e.reason)}</td></tr>\n" for e in data.auto_rollbacks)
    return _section("auto-rollbacks", "Auto-rollbacks",
                    "<table>\n<thead><tr><th>time</th><th>from → to</th><th>verdict</th><th>reason</th></tr>"
                    f"</thead>\n<tbody>\n{rows}</tbody>\n</table>\n")


def _alerts(data: ReportData) -> str:
    z = data.zone
    body = f"<p>Open at any time from {when(data.period_start, z)} to {when(data.at, z)}, oldest first.</p>\n"
    if not data.alerts:
        return _section("alerts", "Alerts and incidents", body + "<p>None.</p>\n")
    rows = []
    for a in data.alerts:
        last = when(a.last_at, z) if a.last_at is not None else "still firing then"
        resolved = when(a.resolved_at, z) if a.resolved_at is not None else "open then"
        acked = f"{esc(a.acked_by) or 'someone'} at {when(a.acked_at, z)}" if a.acked_at is not None else "—"
        rows.append(f"<tr><td>{esc(a.severity)}</td><td>{esc(a.name)}</td><td>{esc(a.source)}</td>"
                    f"<td>{when(a.first_at, z)}</td><td>{last}</td><td>{resolved}</td><td>{acked}</td>"
                    f"<td>{esc(a.summary, limit=300)}</td></tr>\n")
    body += ("<table>\n<thead><tr><th>severity</th><th>name</th><th>source</th><th>first seen</th><th>last seen</th>"
             "<th>resolved</th><th>acked by</th><th>summary</th></tr></thead>\n<tbody>\n" + "".join(rows)
             + "</tbody>\n</table>\n")
    if data.alerts_total > len(data.alerts):
        body += f"<p>… and {data.alerts_total - len(data.alerts)} more, not listed.</p>\n"
    return _section("alerts", "Alerts and incidents", body)

