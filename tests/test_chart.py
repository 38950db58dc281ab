"""The history chart (issue 12, item 4): a clock axis in the screen's zone, windows of
1 h, 24 h and 7 d on keys (the long ones read from the database by a worker of the
App, not every second), and the rollout's actions marked where they happened."""
from datetime import datetime, timedelta, timezone

import psycopg

from textual.app import App

from checks.models import Band, Bands, ChartView, Condition, GateReading
from checks.times import clock_ticks, zone_named
from console.app import make_app
from widgets.gate_chart import GateChart, trend_points

from .conftest import make_config, other_console_acts, wait_for

IST = zone_named("Asia/Kolkata")
UTC = timezone.utc
SIZE = (160, 48)


def chart(app) -> GateChart:
    return app.screen.query_one(GateChart)


def chart_text(app) -> str:
    return chart(app).render().plain


def seed(db_url, rows) -> None:
    """Recorded evaluations of error_rate: (when, value)."""
    with psycopg.connect(db_url) as conn:
        with conn.cursor() as cur:
            cur.executemany("insert into gonogo.gate_evaluations (at, gate, value, band) values (%s, 'error_rate', %s,"
                            " 'green') on conflict do nothing", rows)


def braille_span(text: str) -> tuple[float, float]:
    """Where the plotted line begins and ends, as fractions of the plot's width (its
    frame, `┌` to `┐`): the line is drawn in braille, the thresholds and the frame not."""
    lines = text.splitlines()
    top = next(line for line in lines if "┌" in line and "┐" in line)
    left, right = top.index("┌"), top.index("┐")
    cols = [i for line in lines for i, ch in enumerate(line) if "\u2800" < ch <= "\u28ff" and left < i < right]
    assert cols, text
    return (min(cols) - left) / (right - left), (max(cols) - left) / (right - left)


def config(db_url, base):
    return make_config(db_url, base, console={"refresh": "1s", "operator": "tester", "timezone": "Asia/Kolkata"})


async def started(pilot, app):
    await wait_for(pilot, lambda: app.snapshot is not None and app.store is not None
                   and app.snapshot.rollout is not None, what="first snapshot")


def test_a_trend_without_its_times_is_15_s_apart_ending_now_and_cut_to_the_window():
    end = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    pts = trend_points([1.0, None, 3.0], (), end, end - timedelta(hours=1))
    assert pts == [(end - timedelta(seconds=30), 1.0), (end, 3.0)]
    times = (end - timedelta(hours=2), end - timedelta(minutes=5))
    assert trend_points([9.0, 2.0], times, end, end - timedelta(hours=1)) == [(times[1], 2.0)]


async def test_window_keys_change_the_title_and_the_7_d_window_is_read_from_the_store(store, db_url, health_server):
    base, _ = health_server
    now = datetime.now(UTC)
    # A week of evaluations, one a quarter of an hour; a spike of 42 five days ago.
    rows = [(now - timedelta(minutes=15 * i), 0.05) for i in range(1, 4 * 24 * 7 - 4)]
    spike = now - timedelta(days=5, minutes=7)
    rows.append((spike, 42.0))
    seed(db_url, rows)
    app = make_app(config(db_url, base))
    reads: list[tuple] = []
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        real = app.store.gate_trend

        async def counted(gate, since, bucket):
            reads.append((gate, since, bucket))
            return await real(gate, since, bucket)

        app.store.gate_trend = counted  # the real read, counted
        await wait_for(pilot, lambda: "last 1 h · IST" in chart(app).title_text, what="the 1 h title")
        assert chart(app).title_text.startswith("error_rate (%)")

        await pilot.press("3")
        await wait_for(pilot, lambda: app.chart is not None and app.chart.window == "7d", what="the week read")
        await wait_for(pilot, lambda: "last 7 d · IST" in chart(app).title_text, what="the 7 d title")
        view = app.chart
        assert view.gate == "error_rate" and len(view.points) <= 24 * 7 + 1  # an hour a bucket, bounded
        assert min(at for at, _, _ in view.points) < now - timedelta(days=6)
        assert any(hi == 42.0 for _, _, hi in view.points)  # the bucket's worst is kept
        # The axis: day ticks in IST, and the spike sets the scale.
        text = chart_text(app)
        days = [label for _, label in clock_ticks(now - timedelta(days=7), now, IST, max_ticks=10)]
        assert sum(label in text for label in days) >= 3, text
        assert "42" in text or "46" in text  # the y axis reaches the spike

        # Snapshots keep arriving every second; the week is not read again for each.
        first = len(reads)
        assert [bucket for _, _, bucket in reads].count(timedelta(hours=1)) == 1
        seen = app.snapshot.at
        await wait_for(pilot, lambda: app.snapshot.at >= seen + timedelta(seconds=3), what="three more snapshots")
        assert len(reads) == first

        await pilot.press("2")
        await wait_for(pilot, lambda: "last 24 h · IST" in chart(app).title_text, what="the 24 h title")
        assert reads[-1][2] == timedelta(minutes=15)
        await pilot.press("z")
        await wait_for(pilot, lambda: "last 24 h · UTC" in chart(app).title_text, what="the title in UTC")
        await pilot.press("w")  # cycles on: 24 h → 7 d
        await wait_for(pilot, lambda: "last 7 d · UTC" in chart(app).title_text, what="w to 7 d")
        await pilot.press("w", "1")
        await wait_for(pilot, lambda: "last 1 h · UTC" in chart(app).title_text, what="back to 1 h")


async def test_a_recorded_rollout_action_is_marked_on_the_chart(store, db_url, health_server):
    base, _ = health_server
    now = datetime.now(UTC)
    seed(db_url, [(now - timedelta(seconds=15 * i), 0.05) for i in range(1, 200)])
    app = make_app(config(db_url, base))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await wait_for(pilot, lambda: "last 1 h" in chart(app).title_text and "no history" not in chart(app).title_text,
                       what="the last hour charted")
        assert "↑5%" not in chart_text(app)
        other_console_acts(db_url, "alice", "canary looks fine")  # 0 → 5 %
        app.action_refresh()
        await wait_for(pilot, lambda: "↑5%" in chart_text(app), what="the advance marked on the chart")
        assert chart(app).marker_labels == ("↑5%",)
        # Marked in the long windows too.
        await pilot.press("3")
        await wait_for(pilot, lambda: "last 7 d" in chart(app).title_text and "↑5%" in chart_text(app),
                       what="marked on the week")


async def test_the_1_h_view_spans_the_recorded_hour_though_the_trend_in_memory_holds_minutes(store, db_url,
                                                                                            health_server):
    """While a gate is red every evaluation is recorded (1 s apart at a 1 s refresh):
    the engine's trend (its last 240) then spans minutes, not the hour. The 1 h view
    is read from the recorded evaluations, like 24 h and 7 d."""
    base, _ = health_server
    now = datetime.now(UTC)
    # 50 minutes of evaluations 2 s apart: the trend in memory keeps the last 8 minutes.
    seed(db_url, [(now - timedelta(seconds=2 * i), 0.05) for i in range(5, 50 * 30)])
    app = make_app(config(db_url, base))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert len(app.snapshot.history["error_rate"]) == 240
        assert min(app.snapshot.history_at["error_rate"]) > now - timedelta(minutes=9)
        await wait_for(pilot, lambda: app.chart is not None and (app.chart.gate, app.chart.window) == ("error_rate", "1h")
                       and "last 1 h" in chart(app).title_text, what="the hour read")
        assert min(at for at, _, _ in app.chart.points) <= now - timedelta(minutes=49)
        assert len(app.chart.points) <= 61  # a minute a bucket: bounded however much was recorded
        first, last = braille_span(chart_text(app))
        # 50 minutes of a 60-minute axis: the line starts a sixth of the way in and
        # runs to the right edge (the trend alone would start at 52 minutes).
        assert 0.1 < first < 0.25, (first, chart_text(app))
        assert last > 0.95, (last, chart_text(app))


class ChartApp(App):
    def compose(self):
        yield GateChart()


async def test_the_1_h_view_adds_the_trend_recorded_after_its_read_and_not_what_the_read_holds():
    end = datetime(2026, 11, 25, 3, 0, 40, tzinfo=UTC)
    read_at = end - timedelta(seconds=40)
    gate = GateReading(name="error_rate", value=0.05, band=Band.GREEN, unit="%",
                       bands=Bands(green=Condition.parse("< 0.1"), red=Condition.parse("> 1.0")))
    view = ChartView(gate="error_rate", window="1h", start=read_at - timedelta(hours=1), end=read_at,
                     points=tuple((read_at - timedelta(minutes=m), 0.05, 0.06) for m in range(1, 60)))
    app = ChartApp()
    async with app.run_test(size=(120, 30)) as pilot:
        widget = app.query_one(GateChart)
        # An old spike in the trend is in the read already (it was recorded): not drawn twice,
        # and not on the axis; a spike recorded since the read is.
        times = (read_at - timedelta(minutes=30), end - timedelta(seconds=10))
        widget.show(gate, window="1h", end=end, values=(9.0, 0.07), times=times, view=view)
        await pilot.pause()
        text = widget.render().plain
        assert "9.0" not in text and "8." not in text, text
        widget.show(gate, window="1h", end=end, values=(9.0, 0.07, 42.0), times=(*times, end), view=view)
        await pilot.pause()
        text = widget.render().plain
        assert "42" in text or "46" in text, text  # the y axis reaches the new point
        first, last = braille_span(text)
        assert first < 0.05 and last > 0.95, (first, last)


async def test_the_7_d_chart_on_the_demo_spans_the_seeded_week_with_its_blip(store, db_url, health_server):
    """The demo's seeded week holds the evaluations a leader would have recorded over it
    (console/demo/seed.py): the 7 d view is drawn across the whole week, day ticks and
    all, and day one's blip of failed probes sets the y axis where the probes failed."""
    from console.demo.seed import seed as seed_demo

    base, _ = health_server
    cfg = config(db_url, base)
    start = await seed_demo(db_url, ["api"], cfg.rollout.flag, cfg.rollout.steps, config=cfg)
    app = make_app(cfg)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("3")
        await wait_for(pilot, lambda: app.chart is not None and app.chart.window == "7d" and app.chart.points
                       and "last 7 d · IST" in chart(app).title_text, what="the week read")
        view, now = app.chart, datetime.now(UTC)
        assert len(view.points) >= 160  # an hour a bucket, from the burn-in's start to now
        times = [at for at, _, _ in view.points]
        assert min(times) == start and max(times) > now - timedelta(hours=1)
        worst = max(view.points, key=lambda p: p[2])
        blip = start + timedelta(hours=9)
        assert worst[0] == blip and worst[2] > 1.0  # red: the hour its probes failed
        text = chart_text(app)
        # ... and drawn there: the highest braille cell stands at the blip's place on the axis.
        lines = text.splitlines()
        top = next(line for line in lines if "┌" in line and "┐" in line)
        left, right = top.index("┌"), top.index("┐")
        peak = next(line for line in lines if any("\u2800" < ch <= "\u28ff" for ch in line[left + 1:right]))
        col = next(i for i, ch in enumerate(peak) if "\u2800" < ch <= "\u28ff" and left < i < right)
        assert abs((col - left) / (right - left) - (blip - (now - timedelta(days=7))) / timedelta(days=7)) < 0.03, text
        days = [label for _, label in clock_ticks(now - timedelta(days=7), now, IST, max_ticks=10)]
        assert sum(label in text for label in days) >= 5, text  # ticks across the week
        first, last = braille_span(text)
        # The week so far is 6 d 18 h of the 7 d axis: drawn from a few % in to the right edge.
        assert 0.02 < first < 0.08 and last > 0.95, (first, last, text)


class CountingChart(GateChart):
    """The chart, counting how often it is drawn (each draw builds the plotext figure)."""

    draws = 0

    def render(self):
        self.draws += 1
        return super().render()


class CountingChartApp(App):
    def compose(self):
        yield CountingChart()


async def test_a_read_that_brings_what_the_trend_had_or_a_value_inside_a_bucket_replots_nothing():
    end = datetime(2026, 11, 25, 3, 0, 40, tzinfo=UTC)
    read_at = end - timedelta(seconds=40)  # 03:00:00
    gate = GateReading(name="error_rate", value=0.05, band=Band.GREEN, unit="%",
                       bands=Bands(green=Condition.parse("< 0.1"), red=Condition.parse("> 1.0")))
    older = tuple((read_at - timedelta(minutes=m), 0.05, 0.06) for m in range(1, 60))
    view = ChartView(gate="error_rate", window="1h", start=read_at - timedelta(hours=1), end=read_at, points=older)
    app = CountingChartApp()
    async with app.run_test(size=(120, 30)) as pilot:
        widget = app.query_one(CountingChart)
        times, values = (read_at + timedelta(seconds=10), read_at + timedelta(seconds=25)), (0.02, 0.08)
        widget.show(gate, window="1h", end=end, values=values, times=times, view=view)
        await pilot.pause()
        drawn = widget.draws
        assert drawn >= 1
        # The next read has the two values in the 03:00 bucket, and a part of the bucket
        # that straddles the axis's start (02:01): the same drawing.
        straddling = (read_at - timedelta(minutes=60), 0.5, 0.5)
        reread = view.model_copy(update={"end": end - timedelta(seconds=5),
                                         "points": (straddling, *older, (read_at, 0.02, 0.08))})
        widget.show(gate, window="1h", end=end, values=values, times=times, view=reread)
        # A value between that bucket's lowest and highest moves neither line.
        widget.show(gate, window="1h", end=end, values=(*values, 0.05), times=(*times, end), view=reread)
        await pilot.pause()
        assert widget.draws == drawn
        # One above its highest does.
        widget.show(gate, window="1h", end=end, values=(*values, 0.09), times=(*times, end), view=reread)
        await pilot.pause()
        assert widget.draws == drawn + 1


def test_the_y_axis_stops_at_0_when_nothing_drawn_is_below_it():
    from widgets.gate_chart import y_range

    assert y_range([0.0, 0.0], (0.1, 1.0)) == (0.0, 1.1)  # an error rate of 0 %: not from -0.1
    assert y_range([0.0]) == (0.0, 1.0)  # a flat 0 with no bands: 1 to spare, above only
    assert y_range([120.0, 140.0], (200.0, 500.0)) == (82.0, 538.0)  # far from 0: spared both sides
    assert y_range([-3.0, 2.0]) == (-3.5, 2.5)  # a value below 0 (a delta): the axis goes there


async def test_an_error_rate_of_0_is_drawn_on_an_axis_from_0():
    end = datetime(2026, 11, 25, 3, 0, 40, tzinfo=UTC)
    gate = GateReading(name="error_rate", value=0.0, band=Band.GREEN, unit="%",
                       bands=Bands(green=Condition.parse("< 0.1"), red=Condition.parse("> 1.0")))
    view = ChartView(gate="error_rate", window="1h", start=end - timedelta(hours=1), end=end,
                     points=tuple((end - timedelta(minutes=m), 0.0, 0.0) for m in range(1, 60)))
    app = ChartApp()
    async with app.run_test(size=(120, 30)) as pilot:
        widget = app.query_one(GateChart)
        widget.show(gate, window="1h", end=end, view=view)
        await pilot.pause()
        text = widget.render().plain
    labels = [line.split("┤")[0].strip() for line in text.splitlines() if "┤" in line]  # the y axis's ticks
    assert labels and all(not label.startswith("-") for label in labels), (labels, text)
    assert float(labels[-1]) == 0.0, labels  # the lowest tick is 0
    first, last = braille_span(text)  # the line itself is drawn, along the bottom
    assert first < 0.05 and last > 0.95, text
