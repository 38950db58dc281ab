"""Faults seen on the 3 a.m. screen (issue 12/13 leftovers), as the terminal shows them:
the soak's percentage cut from its unit (`73` at 120 columns). The chart's axis below
zero is in tests/test_chart.py, the review's times and failed probes in
tests/test_time_zone.py and tests/test_ui_review.py."""
from __future__ import annotations

import re

import pytest

from widgets.rollout_panel import RolloutPanel, SoakBar

from .test_layout import screen_lines
from .test_snapshots import _app, fixed_snapshot


@pytest.fixture(autouse=True)
def _utc(utc_tz):
    """Times on screen in UTC, whatever this machine's zone."""


def soak_line(app, lines: list[str]) -> str:
    """The soak bar's row within the rollout panel, as the terminal shows it."""
    panel = app.screen.query_one(RolloutPanel).region
    bar = app.screen.query_one(SoakBar).region
    assert bar.height == 1 and panel.contains_region(bar), (panel, bar)
    return lines[bar.y][panel.x:panel.right]


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 36), (150, 24), (160, 48), (200, 60)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_soaks_percentage_carries_its_unit_or_is_not_shown(size):
    """8 h 48 m of a 12 h soak: `73%`, whole, or no number at all (never `73`, `7`)."""
    app, show = _app(fixed_snapshot())
    async with app.run_test(size=size) as pilot:
        await show(pilot)
        for _ in range(100):  # until the panel has drawn the soak (a busy machine is slow to)
            lines = screen_lines(app)
            if any("left of 12h" in line for line in lines) and "━" in soak_line(app, lines):
                break
            await pilot.pause(0.05)
        line = soak_line(app, lines)
    numbers = re.findall(r"\d+%?", line)
    assert numbers in ([], ["73%"]), f"{size}: {line!r}"
    if size[0] >= 100:  # room for it: shown
        assert numbers == ["73%"], f"{size}: {line!r}"


@pytest.mark.parametrize("width, shows", [(6, False), (8, False), (9, True), (12, True), (40, True)])
async def test_a_bar_too_narrow_for_its_percentage_drops_it_whole(width, shows):
    from textual.app import App
    from textual.containers import Vertical

    class One(App):
        CSS = f"Vertical {{ width: {width}; height: 1; }}"

        def compose(self):
            with Vertical():
                yield SoakBar(total=100, show_eta=False)

    app = One()
    async with app.run_test(size=(60, 3)) as pilot:
        app.query_one(SoakBar).update(progress=73.3)
        await pilot.pause()
        line = screen_lines(app)[0][:width]
    assert re.findall(r"\d+%?", line) == (["73%"] if shows else []), line
    assert line.strip(), "the bar itself stays"
