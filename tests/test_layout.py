"""What must stay on screen at any terminal size (issue 12): the verdict, every gate's
value and band, and which target is down; and the gates table repainting only when a
cell changed. A snapshot only says "changed"; these say what is missing."""
import contextlib
import io

import pytest
from rich.console import Console

from checks.models import Band
from widgets.gates_table import GatesTable

from .conftest import until
from .test_snapshots import NOW, _app, fixed_snapshot

SIZES = [(80, 24), (100, 30), (120, 36), (150, 24), (160, 48), (200, 60), (250, 70), (80, 70), (250, 24)]
BAND_WORD = {Band.GREEN: "● GREEN", Band.YELLOW: "▲ YELLOW", Band.RED: "✖ RED", Band.UNKNOWN: "? UNKNOWN"}


@pytest.fixture(autouse=True)
def _utc(utc_tz):
    """Times on screen in UTC, whatever this machine's zone."""


def one_target_down():
    snap = fixed_snapshot()
    gates = tuple(g.model_copy(update={"detail": "down: billing"}) if g.name == "checks_passing" else g
                  for g in snap.gates)
    return snap.model_copy(update={"gates": gates})


def screen_lines(app) -> list[str]:
    """The screen as the terminal shows it, one string a row."""
    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(), record=True,
                      legacy_windows=False, color_system=None)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text().splitlines()


def drawn(app, snapshot) -> bool:
    """Every gate's row and the evaluated time are on the screen."""
    text = "\n".join(screen_lines(app))
    return NOW.strftime("%H:%M:%S") in text and all(f" {g.name} " in text for g in snapshot.gates)


@contextlib.asynccontextmanager
async def showing(snapshot, size):
    """The app running at `size`, handed the snapshot, once the screen has drawn it (a
    busy machine can take longer than a fixed pause) or after 5 s, for the assertions
    to say what is missing: yields (app, pilot)."""
    app, _ = _app(snapshot)
    async with app.run_test(size=size) as pilot:
        app.snapshot = snapshot
        await until(pilot, lambda: drawn(app, snapshot))
        yield app, pilot


async def shown(size, snapshot) -> list[str]:
    """The screen once it has drawn the snapshot, or as it is after 5 s."""
    async with showing(snapshot, size) as (app, _):
        return screen_lines(app)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_verdict_every_gate_and_the_down_target_are_on_screen(size):
    snap = one_target_down()
    lines = await shown(size, snap)
    text = "\n".join(lines)
    assert "ROLLBACK" in text
    for g in snap.gates:
        # the gate's row: its name, then its value and its band on the same line
        rows = [line for line in lines if f" {g.name} " in line and g.shown in line and BAND_WORD[g.band] in line]
        assert rows, f"{g.name}'s value or band missing at {size}:\n{text}"
        if g.name == "checks_passing":
            assert "down: billing" in rows[0], f"the down target is not readable at {size}: {rows[0]!r}"


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 36), (160, 48), (250, 70)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_last_evaluation_time_is_on_screen(size):
    text = "\n".join(await shown(size, fixed_snapshot()))
    assert NOW.strftime("%H:%M:%S") in text


async def test_narrow_table_drops_the_least_useful_columns_first():
    snap = one_target_down()
    async with showing(snap, (80, 24)) as (app, pilot):
        keys = [c.key.value for c in app.screen.query_one(GatesTable).ordered_columns]
    # the detail (which target is down) is kept over the trend and the thresholds
    assert keys[:3] == ["gate", "value", "band"] and keys[-1] == "detail"
    assert "bands" not in keys and "trend" not in keys


async def test_every_column_at_120_columns():
    snap = one_target_down()
    async with showing(snap, (120, 36)) as (app, pilot):
        keys = [c.key.value for c in app.screen.query_one(GatesTable).ordered_columns]
    assert keys == ["gate", "value", "band", "trend", "bands", "window", "detail"]


async def test_the_table_follows_a_resize():
    snap = one_target_down()
    async with showing(snap, (200, 60)) as (app, pilot):
        table = app.screen.query_one(GatesTable)
        assert len(table.ordered_columns) == 7
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: len(table.ordered_columns) < 7 and "down: billing" in "\n".join(screen_lines(app)))
        assert len(table.ordered_columns) < 7
        assert "down: billing" in "\n".join(screen_lines(app))


async def test_light_theme_restyles_the_cells():
    snap = fixed_snapshot()
    async with showing(snap, (120, 36)) as (app, pilot):
        table = app.screen.query_one(GatesTable)
        dark = table.get_cell("error_rate", "band").style
        app.theme = "textual-light"
        await until(pilot, lambda: table.get_cell("error_rate", "band").style.color != dark.color)
        light = table.get_cell("error_rate", "band").style
        assert dark.color != light.color
        assert light.color.triplet.hex.lower() == app.theme_variables["text-error"].lower()


async def test_a_changed_value_re_renders_its_row_alone():
    snap = fixed_snapshot()
    async with showing(snap, (120, 36)) as (app, pilot):
        table = app.screen.query_one(GatesTable)
        rendered = []  # the rows whose cells were rendered again
        original = table._compute_row_renderables
        table._compute_row_renderables = lambda index: (rendered.append(index), original(index))[1]
        table.show(snap.gates, snap.history)
        await pilot.pause(0.1)
        assert rendered == []  # an unchanged snapshot renders nothing
        gates = tuple(g.model_copy(update={"value": 2.5}) if g.name == "error_rate" else g for g in snap.gates)
        table.show(gates, snap.history)
        await until(pilot, lambda: any(" error_rate " in line and "2.50 %" in line for line in screen_lines(app)))
        assert set(rendered) == {table.get_row_index("error_rate")}
        assert any(" error_rate " in line and "2.50 %" in line for line in screen_lines(app))
