"""A criterion's 7-day chart as inline SVG (pure): the bands shaded behind the
line, each hour's worst value drawn (a spike is not averaged away: the database
keeps each bucket's lowest and highest), and the rollout's actions marked where
they happened.

The SVG is written for inlining in the HTML report: no `xmlns` (HTML parses inline
SVG without one), no external reference of any kind, every text escaped."""
from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo

from checks.models import Bands
from checks.times import clock_ticks

GREEN, YELLOW, RED = "#dcefe0", "#fbf0cf", "#f8dcda"
LINE, RANGE, MARK, AXIS = "#1f4e79", "#9bb7d4", "#6b3fa0", "#555"


def _fmt(x: float) -> str:
    """A coordinate, short and the same on every run."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _number(v: float) -> str:
    return f"{v:.4g}"


def trend_svg(points: Sequence[tuple[datetime, float | None, float | None]], *, start: datetime, end: datetime,
              bands: Bands | None, zone: tzinfo, markers: Sequence[tuple[datetime, str]] = (),
              bucket: timedelta = timedelta(hours=1), title: str = "", width: int = 1000, height: int = 200) -> str:
    """`points`: (bucket start, lowest, highest), oldest first (Store.gate_trend).
    `markers`: (time, label) of the rollout's actions between `start` and `end`.
    Buckets further apart than one `bucket` break the line: no data is not drawn as
    if it were there."""
    left, right, top, bottom = 52, 10, 22, 22
    pw, ph = width - left - right, height - top - bottom
    span = (end - start).total_seconds() or 1.0
    finite = [(t, lo, hi) for t, lo, hi in points
              if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi)]
    lower_better = bands.green.lower_is_better if bands is not None else True
    values = [v for _, lo, hi in finite for v in (lo, hi)]
    thresholds = [bands.green.threshold, bands.red.threshold] if bands is not None else []
    # The scale shows the data and the green boundary, and the red one only once the
    # data leaves green: a week at 0.03 % is not squashed flat under a 1 % line.
    shown = thresholds[:1] + (thresholds[1:] if bands is not None and any(
        not bands.green.holds(v) for v in values) else [])
    if not values:
        shown = thresholds
    lo_y, hi_y = min(values + shown, default=0.0), max(values + shown, default=1.0)
    pad = (hi_y - lo_y) * 0.08 or max(abs(hi_y) * 0.1, 1.0)
    lo_y, hi_y = lo_y - pad, hi_y + pad
    if min(values, default=0.0) >= 0 and lo_y < 0:
        lo_y = 0.0  # rates, latencies and counts do not go below zero

    def x(t: datetime) -> float:
        return left + pw * min(1.0, max(0.0, (t - start).total_seconds() / span))

    def y(v: float) -> float:
        return top + ph * (1 - (min(hi_y, max(lo_y, v)) - lo_y) / (hi_y - lo_y))

    label = html.escape(title, quote=True)
    out = [f'<svg class="trend" viewBox="0 0 {width} {height}" width="100%" role="img"'
           f' aria-label="{label}">']
    if label:
        out.append(f"<title>{label}</title>")
    if bands is not None:  # the bands, as horizontal stripes: green where the value is good
        g, r = bands.green.threshold, bands.red.threshold
        stripes = ([(lo_y, g, GREEN), (g, r, YELLOW), (r, hi_y, RED)] if lower_better
                   else [(g, hi_y, GREEN), (r, g, YELLOW), (lo_y, r, RED)])
        for a, b, colour in stripes:
            a, b = max(a, lo_y), min(b, hi_y)
            if b > a:
                out.append(f'<rect x="{left}" y="{_fmt(y(b))}" width="{pw}" height="{_fmt(y(a) - y(b))}"'
                           f' fill="{colour}"/>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="{AXIS}"'
               ' stroke-width="0.5"/>')
    labelled: list[float] = []  # the boundaries first; an end of the scale only where it leaves room
    for v in [t for t in thresholds if lo_y <= t <= hi_y] + [lo_y, hi_y]:
        if all(abs(y(v) - y(u)) >= 10 for u in labelled):
            labelled.append(v)
    for v in sorted(labelled):
        out.append(f'<text x="{left - 4}" y="{_fmt(y(v) + 3)}" text-anchor="end" class="tick">{_number(v)}</text>')
    for at, text in clock_ticks(start, end, zone, max_ticks=8):
        out.append(f'<line x1="{_fmt(x(at))}" y1="{top + ph}" x2="{_fmt(x(at))}" y2="{top + ph + 4}"'
                   f' stroke="{AXIS}"/>')
        out.append(f'<text x="{_fmt(x(at))}" y="{height - 6}" text-anchor="middle" class="tick">'
                   f"{html.escape(text)}</text>")
    if not finite:
        out.append(f'<text x="{left + pw / 2:.0f}" y="{top + ph / 2:.0f}" text-anchor="middle" class="empty">'
                   "no evaluation recorded in these 7 days</text>")
    else:
        for t, lo, hi in finite:  # each hour's range, then the worst of each hour as the line
            if hi > lo:
                out.append(f'<line x1="{_fmt(x(t))}" y1="{_fmt(y(lo))}" x2="{_fmt(x(t))}" y2="{_fmt(y(hi))}"'
                           f' stroke="{RANGE}" stroke-width="2"/>')
        for run in _runs(finite, bucket):
            pts = " ".join(f"{_fmt(x(t))},{_fmt(y(hi if lower_better else lo))}" for t, lo, hi in run)
            if len(run) == 1:
                t, lo, hi = run[0]
                out.append(f'<circle cx="{_fmt(x(t))}" cy="{_fmt(y(hi if lower_better else lo))}" r="1.5"'
                           f' fill="{LINE}"/>')
            else:
                out.append(f'<polyline points="{pts}" fill="none" stroke="{LINE}" stroke-width="1.2"/>')
    row_ends = [-math.inf, -math.inf]  # two rows of labels above the plot, each filled left to right
    for at, text in markers:
        if not start <= at <= end:
            continue
        mx = _fmt(x(at))
        out.append(f'<line x1="{mx}" y1="{top}" x2="{mx}" y2="{top + ph}" stroke="{MARK}" stroke-width="1"'
                   ' stroke-dasharray="3 2"/>')
        # a label near an edge is written inward, so it is not cut off; one that would
        # overlap another in both rows is left out (its line is still drawn)
        w = 6.0 * len(text)
        anchor, x0 = (("end", x(at) - w) if x(at) > left + pw - w / 2 else ("start", x(at)) if x(at) < left + w / 2
                      else ("middle", x(at) - w / 2))
        row = next((r for r, end_x in enumerate(row_ends) if x0 > end_x + 4), None)
        if row is None:
            continue
        row_ends[row] = x0 + w
        out.append(f'<text x="{mx}" y="{top - 4 - 9 * row}" text-anchor="{anchor}" class="mark">'
                   f"{html.escape(text)}</text>")
    out.append("</svg>")
    return "".join(out)


def _runs(points, bucket: timedelta) -> list[list]:
    """The points cut where a bucket is missing."""
    runs: list[list] = []
    for p in points:
        if runs and p[0] - runs[-1][-1][0] <= bucket:
            runs[-1].append(p)
        else:
            runs.append([p])
    return runs
