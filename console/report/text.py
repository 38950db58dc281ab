"""What both renderers say the same way: outside text made inert for Markdown
(`md`), the band as a word and a symbol, a review's mark, a time in the report's
zone (always with the zone written), and the sentences built from ReportData.

Every value that gonogo did not write (names, reasons, operators, alert text, notes)
goes through `md()` for Markdown, or `widgets.literal.visible` then `html.escape`
for HTML: control characters made visible, then every special character escaped,
so a value can neither add a heading, a link, an image or raw HTML, nor break out
of its table cell."""
from __future__ import annotations

import re
from datetime import datetime, timezone, tzinfo

from checks.coverage import describe
from checks.models import Band, Verdict
from checks.times import time_text, zone_label
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


SYMBOL = {Band.GREEN: "🟢", Band.YELLOW: "🟡", Band.RED: "🔴", Band.UNKNOWN: "⚪"}

RULE = "any red → ROLLBACK; any yellow or unknown → HOLD; all green → GO"
WHAT_IT_MEANS = {
    Verdict.GO: "every gate green: advance allowed",
    Verdict.HOLD: "extend the soak and evaluate again",
    Verdict.ROLLBACK: "return to the first step",
}


def band_text(band: Band) -> str:
    return f"{SYMBOL[band]} {band.value}"


def mark_text(c) -> str:
    """A criterion's mark in the review, or why it has none."""
    if not c.criterion:
        return "not a criterion"
    mark = c.mark
    if mark is None:
        return "—"
    return "✔ accepted" if mark.accepted else "✘ not accepted"


def when(at: datetime | None, zone: tzinfo) -> str:
    return "—" if at is None else time_text(at, zone, date=True)


def zone_words(at: datetime, zone: tzinfo) -> str:
    return zone_label(at.astimezone(zone))


def coverage_text(c) -> str:
    """A criterion's coverage, or why there is none."""
    if c.evaluated_at is None:
        return "—"
    if not c.recorded:
        return "not recorded"
    return describe(c.reading.coverage) if c.reading.coverage is not None else "— (no window to cover)"


def window_text(c) -> str:
    if c.evaluated_at is None:
        return "—"
    return c.reading.window if c.recorded else "not recorded"


def moment_arg(at: datetime) -> str:
    """T as `--at` takes it back, in UTC, so the same command writes the same report."""
    spec = "milliseconds" if at.microsecond else "seconds"
    return at.astimezone(timezone.utc).isoformat(timespec=spec).replace("+00:00", "Z")


def period_text(data) -> str:
    """The title's second line: the burn-in (or the week up to T) and its clean days."""
    z = data.zone
    bi = data.burn_in
    if bi is None:
        return f"No burn-in configured: the period is the 7 days up to {when(data.at, z)}."
    return (f"Burn-in {when(bi.start, z)} → {when(bi.end, z)} ({bi.days} days), review {when(bi.review, z)};"
            f" {bi.clean_days} consecutive clean days of {bi.days} by {when(data.at, z)}.")
