"""What a small terminal keeps: the footer's most important keys at 80 columns (every
key still in the help), and the rollout's state and soak on lines of their own.
Driven through the real app, against a real database and health endpoint."""
from __future__ import annotations

from textual.widgets._footer import FooterKey

from console.app import make_app
from console.demo.service import SimulatedService
from console.screens.help import HelpScreen

from .conftest import make_config, other_console_acts, wait_for


def footer_keys(app) -> list[tuple[str, str]]:
    return [(k.key_display, k.description) for k in app.screen.query(FooterKey)]


def footer_width(app) -> int:
    """The rightmost cell the footer's keys reach; none of them overlap (the palette
    key is docked over whatever lies beneath it)."""
    spans = sorted((k.region.x, k.region.right) for k in app.screen.query(FooterKey))
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])), spans
    return max(end for _, end in spans)


async def started(pilot, app):
    await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.rollout is not None
                   and app.engine is not None, what="first snapshot")
    await pilot.pause(0.1)


async def test_at_80_columns_the_footer_keeps_help_quit_and_the_rollout_keys(db_url, health_server):
    base, _ = health_server
    app = make_app(make_config(db_url, base))
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        shown = dict(footer_keys(app))
        for key in ("?", "q", "a", "h", "r"):
            assert key in shown, (key, shown)
        assert footer_width(app) <= 80  # nothing cut off or hidden under the palette key
        # The keys left out of the footer are still in the help.
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        listed = {key for key, _, _ in app.key_list()}
        assert {"H", "k", "/", "ctrl+p"} <= listed


async def test_the_demo_at_80_columns_shows_its_reset_key_and_every_key_at_160(db_url, health_server):
    base, _ = health_server
    svc = SimulatedService()  # the demo keys appear only with a demo to drive
    app = make_app(make_config(db_url, base), demo=svc)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        shown = dict(footer_keys(app))
        assert {"?", "q", "a", "h", "r", "k", "n"} <= set(shown) and shown["n"] == "reset"
        assert footer_width(app) <= 80
        await pilot.resize_terminal(160, 48)
        await wait_for(pilot, lambda: len(footer_keys(app)) > len(shown), what="more keys at 160 columns")
        wide = dict(footer_keys(app))
        assert {"?", "q", "a", "h", "r", "H", "k", "/", "e", "l", "o", "n", "^p"} <= set(wide)
        assert footer_width(app) <= 160


async def test_the_rollout_state_and_its_soak_are_on_lines_of_their_own(db_url, health_server):
    base, _ = health_server
    app = make_app(make_config(db_url, base))  # the default 12 h soak
    async with app.run_test(size=(160, 48)) as pilot:
        await started(pilot, app)
        other_console_acts(db_url, "alice", "first step")  # 0 → 5 %: soaking
        await wait_for(pilot, lambda: app.snapshot.rollout.state == "soaking", what="soaking")
        state = app.screen.query_one("#rollout #state")
        await wait_for(pilot, lambda: "left of 12h" in state.render().plain, what="the soak shown")
        lines = state.render().plain.split("\n")
        assert lines[0].startswith("soaking since ") and "soak" not in lines[0].removeprefix("soaking")
        assert lines[1].startswith("soak ") and lines[1].endswith("left of 12h")


async def test_the_review_screen_keeps_its_own_keys_in_the_footer_at_80_columns(db_url, health_server):
    """On the review screen, `space` (mark) and `d` (decide) are what a reviewer needs
    to find; they are kept before the App's keys when not every key fits."""
    base, _ = health_server
    app = make_app(make_config(db_url, base), demo=SimulatedService())
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        await pilot.press("v")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ReviewScreen", what="the review screen")
        await pilot.pause(0.1)
        shown = dict(footer_keys(app))
        assert {"esc", "space", "d", "n"} <= set(shown), shown
        assert footer_width(app) <= 80
