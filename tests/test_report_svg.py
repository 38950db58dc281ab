"""The report's 7-day chart (console/report/svg.py), pure: bands, gaps, markers,
escaping, and nothing that reaches outside the file."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

from checks.models import Bands, Condition
from console.report.svg import GREEN, RED, YELLOW, trend_svg

END = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
START = END - timedelta(days=7)
HOUR = timedelta(hours=1)
ERROR_BANDS = Bands(green=Condition.parse("< 0.1"), red=Condition.parse("> 1"))
PASS_BANDS = Bands(green=Condition.parse(">= 98"), red=Condition.parse("< 95"))


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def hours(n: int, value: float, since: datetime = START):
    return [(since + i * HOUR, value, value) for i in range(n)]


def stripes(root) -> dict[str, tuple[float, float]]:
    """Each band's stripe: colour → (top y, bottom y)."""
    out = {}
    for r in root.iter("rect"):
        if r.get("fill") in (GREEN, YELLOW, RED):
            y, h = float(r.get("y")), float(r.get("height"))
            out[r.get("fill")] = (y, y + h)
    return out


def test_lower_is_better_bands_put_red_on_top_and_higher_is_better_put_it_below():
    low = stripes(parse(trend_svg(hours(5, 0.05) + hours(1, 2.0, START + 5 * HOUR), start=START, end=END,
                                  bands=ERROR_BANDS, zone=timezone.utc)))
    assert low[RED][1] <= low[YELLOW][0] + 0.2 and low[YELLOW][1] <= low[GREEN][0] + 0.2  # red above yellow above green
    high = stripes(parse(trend_svg(hours(5, 99.0) + hours(1, 94.0, START + 5 * HOUR), start=START, end=END,
                                   bands=PASS_BANDS, zone=timezone.utc)))
    assert high[GREEN][1] <= high[YELLOW][0] + 0.2 and high[YELLOW][1] <= high[RED][0] + 0.2  # green on top


def test_a_green_week_is_scaled_to_its_data_and_the_green_boundary_not_to_the_red_one():
    root = parse(trend_svg(hours(50, 0.03), start=START, end=END, bands=ERROR_BANDS, zone=timezone.utc))
    labels = [t.text for t in root.iter("text") if t.get("text-anchor") == "end"]
    assert "0.1" in labels and "1" not in labels  # the red boundary (> 1) is off the scale
    assert RED not in stripes(root) and stripes(root)[GREEN][1] - stripes(root)[GREEN][0] > 100  # green fills it
    root = parse(trend_svg(hours(50, 0.03) + hours(1, 0.4, START + 60 * HOUR), start=START, end=END,
                           bands=ERROR_BANDS, zone=timezone.utc))
    assert "1" in [t.text for t in root.iter("text") if t.get("text-anchor") == "end"]  # left green: red shown


def test_a_missing_hour_breaks_the_line_and_the_worst_of_each_hour_is_drawn():
    points = hours(3, 0.05) + [(START + 5 * HOUR, 0.04, 2.5), (START + 6 * HOUR, 0.05, 0.05)]
    root = parse(trend_svg(points, start=START, end=START + 8 * HOUR, bands=ERROR_BANDS, zone=timezone.utc))
    lines = root.findall("polyline")
    assert len(lines) == 2  # hours 0-2, then 5-6: hours 3 and 4 had no evaluation
    assert [len(p.get("points").split()) for p in lines] == [3, 2]
    # the spike at hour 5 (2.5, red) is what the line goes through, not its lowest 0.04
    ys = [float(pt.split(",")[1]) for pt in lines[1].get("points").split()]
    red_top, red_bottom = stripes(root)[RED]
    assert red_top <= ys[0] < red_bottom
    ranges = [ln for ln in root.findall("line") if ln.get("stroke-width") == "2"]
    assert len(ranges) == 1  # only hour 5 had a range (lowest != highest)


def test_no_data_says_so_and_non_finite_values_are_left_out():
    root = parse(trend_svg([(START, float("nan"), float("nan")), (START + HOUR, None, None)], start=START, end=END,
                           bands=ERROR_BANDS, zone=timezone.utc))
    assert not root.findall("polyline")
    assert any("no evaluation recorded" in (t.text or "") for t in root.iter("text"))


def test_actions_are_marked_where_they_happened_and_only_inside_the_window():
    at = START + timedelta(days=3, hours=12)  # half way
    svg = trend_svg(hours(100, 0.05), start=START, end=END, bands=ERROR_BANDS, zone=timezone.utc,
                    markers=[(at, "↑10%"), (START - HOUR, "↑5%"), (END - HOUR, "⟲0% auto")], width=720)
    root = parse(svg)
    marks = [t for t in root.iter("text") if t.get("class") == "mark"]
    assert [t.text for t in marks] == ["↑10%", "⟲0% auto"]  # the one before the window is not drawn
    left, right = 52, 10
    assert abs(float(marks[0].get("x")) - (left + (720 - left - right) / 2)) < 0.2


def test_outside_text_is_escaped_and_nothing_points_outside_the_file():
    hostile = '<script>alert(1)</script> " onload="x" &amp; http://evil.example/'
    svg = trend_svg(hours(3, 0.05), start=START, end=END, bands=None, zone=timezone.utc, title=hostile,
                    markers=[(START + HOUR, "<b>x</b>")])
    root = parse(svg)
    assert root.find("title").text == hostile  # shown literally
    assert "<script" not in svg and "<b>" not in svg and 'onload="x"' not in svg
    assert not re.search(r"\b(href|src|xlink:href|xmlns)\s*=", svg)


def test_the_same_points_draw_the_same_bytes():
    points = hours(40, 0.05) + hours(10, 0.4, START + 50 * HOUR)
    one = trend_svg(points, start=START, end=END, bands=ERROR_BANDS, zone=timezone.utc)
    assert one == trend_svg(list(points), start=START, end=END, bands=ERROR_BANDS, zone=timezone.utc)


def test_day_ticks_are_written_in_the_zone_given():
    from zoneinfo import ZoneInfo

    root = parse(trend_svg(hours(5, 0.05), start=START, end=END, bands=ERROR_BANDS, zone=ZoneInfo("Asia/Kolkata"),
                           width=720))
    ticks = [t.text for t in root.iter("text") if t.get("class") == "tick" and t.get("text-anchor") == "middle"]
    assert ticks and all(re.fullmatch(r"[A-Z][a-z]{2} \d\d", t) for t in ticks)
    # a day's tick sits at midnight in Kolkata, 18:30 UTC: not at a UTC midnight
    xs = [float(t.get("x")) for t in root.iter("text") if t.get("class") == "tick" and t.get("text-anchor") == "middle"]
    pw = 720 - 52 - 10
    first = datetime(2026, 11, 17, 18, 30, tzinfo=timezone.utc)  # START is 14:30 in Kolkata
    assert abs(xs[0] - (52 + pw * (first - START).total_seconds() / (END - START).total_seconds())) < 0.2


def test_labels_that_would_overlap_are_left_out_but_every_action_keeps_its_line():
    at = START + timedelta(days=3)
    marks = [(at + timedelta(minutes=i), f"↑{i}%") for i in range(5)]  # five actions within minutes
    root = parse(trend_svg(hours(100, 0.05), start=START, end=END, bands=ERROR_BANDS, zone=timezone.utc,
                           markers=marks))
    dashed = [ln for ln in root.findall("line") if ln.get("stroke-dasharray")]
    labels = [t for t in root.iter("text") if t.get("class") == "mark"]
    assert len(dashed) == 5 and [t.text for t in labels] == ["↑0%", "↑1%"]  # one a row; the rest would overlap
    assert {t.get("y") for t in labels} == {"18", "9"}


def test_scale_labels_never_overlap_and_the_boundaries_win():
    # a week near 0 with one hour at 7.5: 0 and the 0.1 boundary are a pixel apart
    root = parse(trend_svg(hours(50, 0.0) + hours(1, 7.5, START + 60 * HOUR), start=START, end=END,
                           bands=ERROR_BANDS, zone=timezone.utc))
    labels = [(t.text, float(t.get("y"))) for t in root.iter("text") if t.get("text-anchor") == "end"]
    assert "0.1" in [t for t, _ in labels] and "1" in [t for t, _ in labels] and "0" not in [t for t, _ in labels]
    ys = sorted(y for _, y in labels)
    assert all(b - a >= 10 for a, b in zip(ys, ys[1:]))
