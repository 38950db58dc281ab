"""The go/no-go report in Markdown (pure over ReportData), in the order a burn-in
report is read: the decision, the recommendation, the criteria, the rollout, the
auto-rollbacks, the alerts. Every outside value through `md()`."""
from __future__ import annotations

from checks.durations import duration_text

from .data import STALE_AFTER, ReportData
from .text import (
    RULE, WHAT_IT_MEANS, band_text, coverage_text, mark_text, md, moment_arg, period_text, when, window_text,
    zone_words,
)


def render_markdown(data: ReportData) -> str:
    z = data.zone
    lines = [f"# Go/no-go report: {md(data.flag)}", ""]
    lines.append(period_text(data))
    lines += [
        "",
        f"As the database stood at **{when(data.at, z)}**; every time in {zone_words(data.at, z)}."
        f" `gonogo report --at {moment_arg(data.at)}` writes this report again.",
        "",
    ]
    lines += _decision(data) + _recommendation(data) + _criteria(data) + _rollout(data) + _auto_rollbacks(data)
    lines += _alerts(data)
    return "\n".join(lines).rstrip("\n") + "\n"


def _decision(data: ReportData) -> list[str]:
    r, z = data.review, data.zone
    out = ["## Decision", ""]
    if r is None:
        return out + [f"No review recorded by {when(data.at, z)}.", ""]
    out.append(f"**{r.decision}**, recorded by {md(r.operator)} at {when(r.at, z)}"
               + (" as an OVERRIDE (over criteria not accepted)" if r.override else "") + ".")
    out += ["", f"- present: {md(r.present) if r.present.strip() else 'nobody else named'}",
            f"- reason: {md(r.reason)}",
            f"- the gates said {r.verdict} then; the rollout was at {r.percentage} %", ""]
    return out


def _recommendation(data: ReportData) -> list[str]:
    out = [f"## Recommendation: **{data.verdict.value}**", "",
           f"By the verdict rule ({RULE}), over each gate's evaluation at {when(data.at, data.zone)}:"
           f" {WHAT_IT_MEANS[data.verdict]}.", ""]
    out += [f"- {md(r)}" for r in data.reasons] or ["- every gate green"]
    return out + [""]


def _criteria(data: ReportData) -> list[str]:
    z = data.zone
    out = ["## Criteria", "",
           "| gate | value | window | coverage | band | evaluated | mark | note |",
           "|---|---|---|---|---|---|---|---|"]
    for c in data.criteria:
        r = c.reading
        note = md(c.mark.note) if c.mark is not None and c.mark.note else ""
        detail = f" ({md(r.detail)})" if r.detail else ""
        out.append(f"| {md(r.name)} | {md(r.shown)}{detail} | {md(window_text(c))} | {md(coverage_text(c))} |"
                   f" {band_text(r.band)} | {when(c.evaluated_at, z)} | {mark_text(c)} | {note} |")
    if not data.criteria:
        out = out[:2] + ["No gates configured."]
    out += ["", f"Each gate's newest evaluation recorded at or before {when(data.at, z)}; one older than"
                f" {duration_text(STALE_AFTER)} is stale, so unknown (never green)."]
    if data.unrecorded:
        out.append(f"The evaluations of {', '.join(md(n) for n in data.unrecorded)} were recorded before gonogo"
                   " wrote a window and a coverage with each: not recorded.")
    return out + [""]


def _rollout(data: ReportData) -> list[str]:
    ro, z = data.rollout, data.zone
    since = f" since {when(ro.since, z)}" if ro.since else ""
    out = ["## Rollout", "",
           f"At **{ro.percentage} %** ({ro.state.replace('_', ' ')}){since}; steps {', '.join(map(str, ro.steps))} %.",
           ""]
    if not data.history:
        return out + [f"No rollout actions by {when(data.at, z)}.", ""]
    out += ["| time | operator | action | from → to | reason | marks |", "|---|---|---|---|---|---|"]
    for e in data.history:
        out.append(f"| {when(e.at, z)} | {md(e.operator)} | {md(e.action)} | {e.from_pct} % → {e.to_pct} % |"
                   f" {md(e.reason)} | {e.marks} |")
    return out + [""]


def _auto_rollbacks(data: ReportData) -> list[str]:
    out = ["## Auto-rollbacks", ""]
    if not data.auto_rollbacks:
        return out + [f"None by {when(data.at, data.zone)}.", ""]
    out += ["| time | from → to | verdict | reason |", "|---|---|---|---|"]
    for e in data.auto_rollbacks:
        out.append(f"| {when(e.at, data.zone)} | {e.from_pct} % → {e.to_pct} % | {md(e.verdict)} | {md(e.reason)} |")
    return out + [""]


def _alerts(data: ReportData) -> list[str]:
    z = data.zone
    out = ["## Alerts and incidents", "",
           f"Open at any time from {when(data.period_start, z)} to {when(data.at, z)}, oldest first.", ""]
    if not data.alerts:
        return out + ["None.", ""]
    out += ["| severity | name | source | first seen | last seen | resolved | acked by | summary |",
            "|---|---|---|---|---|---|---|---|"]
    for a in data.alerts:
        last = when(a.last_at, z) if a.last_at is not None else "still firing then"
        resolved = when(a.resolved_at, z) if a.resolved_at is not None else "open then"
        acked = f"{md(a.acked_by) or 'someone'} at {when(a.acked_at, z)}" if a.acked_at is not None else "—"
        out.append(f"| {md(a.severity)} | {md(a.name)} | {md(a.source)} | {when(a.first_at, z)} | {last} |"
                   f" {resolved} | {acked} | {md(a.summary, limit=300)} |")
    if data.alerts_total > len(data.alerts):
        out += ["", f"… and {data.alerts_total - len(data.alerts)} more, not listed."]
    return out + [""]
