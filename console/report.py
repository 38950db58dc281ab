"""The go/no-go report in Markdown, from one snapshot and the audit trail (pure).

Every value that gonogo did not write (names, reasons, operators, alert text, errors)
goes through `md()`: control characters made visible, then every Markdown and HTML
special character escaped, so a value can neither add a heading, a link, an image or
raw HTML, nor break out of its table cell."""
from __future__ import annotations

import re

from checks.models import AuditEvent, Band, Snapshot
from widgets.literal import visible

# What CommonMark/GFM can act on anywhere in a line: emphasis, code, links, images,
# tables, headings, strikethrough, `user@host` autolinks; `_` only where it is not
# inside a word, `:` only after a letter (a `scheme:` autolink), so that names like
# phase_4_deployment and times like 16:30:17 stay readable.
_MD_ANYWHERE = re.compile(r"([\\`*{}\[\]()#!|~@])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|(?<=[A-Za-z]):")
# What acts only at the start of a block: list markers, setext underlines, `1.` / `1)`
# (a `>` quote cannot start: it becomes &gt; below).
_MD_START = re.compile(r"^(\s*)([-+=]|\d+(?=[.)]))")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def md(value: object, limit: int = 2000) -> str:
    """Outside text as inert Markdown: shown literally by any renderer, on one line."""
    text = _MD_ANYWHERE.sub(lambda m: "\\" + m.group(0), visible(value, limit=limit))
    text = re.sub(r"(?i)\b(www)\.", r"\1\\.", text)  # GFM's www. autolink
    text = _MD_START.sub(lambda m: m.group(1) + "\\" + m.group(2) if not m.group(2).isdigit()
                         else m.group(1) + m.group(2) + "\\", text, count=1)
    return "".join(_HTML.get(c, c) for c in text)


MARK = {Band.GREEN: "🟢", Band.YELLOW: "🟡", Band.RED: "🔴", Band.UNKNOWN: "⚪"}


def render_report(config, snap: Snapshot, history: list[AuditEvent]) -> str:
    bi = snap.burn_in
    lines = [
        f"# Go/no-go report: {md(config.rollout.flag)}",
        "",
        f"Evaluated {snap.at.isoformat(timespec='seconds')} by gonogo.",
        "",
        f"## Verdict: **{snap.verdict.value}**",
        "",
    ]
    lines += [f"- {md(r)}" for r in snap.reasons] or ["- all gates green: advance allowed"]
    if not snap.database.ok:
        lines += ["", f"> The database was unavailable ({md(snap.database.reason)}); values are the last known, STALE."]
    lines += ["", "## Gates", "", "| gate | value | band | green | red | window | detail |", "|---|---|---|---|---|---|---|"]
    for g in snap.gates:
        green, red = (str(g.bands.green), str(g.bands.red)) if g.bands else ("", "")
        lines.append(f"| {md(g.name)} | {md(g.shown)} | {MARK[g.band]} {g.band.value}"
                     f"{' (stale)' if g.stale else ''} | {md(green)} | {md(red)} | {md(g.window)} | {md(g.detail)} |")
    if bi is not None:
        lines += ["", "## Burn-in", "",
                  f"- window: {bi.start:%Y-%m-%d %H:%M} UTC → {bi.end:%Y-%m-%d %H:%M} UTC ({bi.days} days)",
                  f"- review: {bi.review:%Y-%m-%d %H:%M} UTC",
                  f"- consecutive clean days: {bi.clean_days} of {bi.days} needed"]
    else:
        lines += ["", "## Burn-in", "", "None configured (no `[burn_in]` in the config)."]
    r = snap.rollout
    if r is not None:
        lines += ["", "## Rollout", "", f"- at **{r.percentage} %** of steps {list(r.steps)}, state **{r.state}**, version {r.version}"]
    lines += ["", "## Decisions (audit trail, oldest first)", ""]
    if history:
        lines += ["| when | who | action | from → to | verdict | reason |", "|---|---|---|---|---|---|"]
        for h in history:
            lines.append(f"| {h.at.isoformat()[:19]} | {md(h.operator)} | {md(h.action)} {h.marks} |"
                         f" {md(h.from_pct)} → {md(h.to_pct)} % | {md(h.verdict)} | {md(h.reason)} |")
    else:
        lines.append("No rollout actions yet.")
    open_alerts = [a for a in snap.alerts if not a.acked]
    lines += ["", "## Open alerts", ""]
    lines += [f"- {a.at:%Y-%m-%d %H:%M} {md(a.severity)} \\[{md(a.source)}\\] {md(a.name)} {md(a.summary)}"
              for a in open_alerts] or ["None."]
    return "\n".join(lines) + "\n"
