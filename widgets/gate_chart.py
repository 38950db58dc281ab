"""The selected gate's history over a window (1 h, 24 h, 7 d) on a clock axis in the
screen's zone, with its green and red thresholds and the rollout's actions marked
where they happened ("↑10%", "⟲0% auto").

The widget draws what it is handed: every window from a `ChartView` the App read
from the database (the recorded evaluations folded into buckets, each bucket's
lowest and highest), and in the 1 h window the values recorded since that read,
from the snapshot's own trend, folded into the same buckets: the 1 h view spans
the hour however often a red gate is recorded, and still moves with each
evaluation. Before the first read of a window, the last hour is the trend alone.
It reads nothing itself.

Plotting is the costly part of the console's repaint (plotext builds the whole
figure, ~10-30 ms): it is done only when what is drawn changes (a bucket's lowest or
highest, the window, the minute the axis ends at, the zone, the size, the theme),
not at every snapshot nor at every read."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone, tzinfo

from rich.text import Text
from textual.color import Color
from textual_plotext import PlotextPlot

from checks.models import ChartView, GateReading
from checks.times import CHART_WINDOWS, WINDOW_WORDS, clock_ticks, markers_in_window, zone_name

from .literal import visible

MIN_ROWS = 6  # below this plotext draws axes over each other: say so instead
TREND_STEP = timedelta(seconds=15)  # a trend without its times: evaluations are recorded 15 s apart


def trend_points(values: Sequence[float | None], times: Sequence[datetime], end: datetime,
                 start: datetime) -> list[tuple[datetime, float]]:
    """The in-memory trend as (time, value) from `start` on: at the times it was
    recorded, or, when they are not given, 15 s apart ending at `end`."""
    if len(times) != len(values):
        times = [end - TREND_STEP * (len(values) - 1 - i) for i in range(len(values))]
    return [(at, v) for at, v in zip(times, values) if v is not None and at >= start]


def fold(points: Sequence[tuple[datetime, float | None, float | None]], trend: Sequence[tuple[datetime, float]],
         bucket: timedelta) -> list[tuple[datetime, float | None, float | None]]:
    """The buckets read (start, lowest, highest) with the trend's values folded in,
    each into the bucket the database puts it in (`date_bin` from the epoch), oldest
    first: the chart looks the same before the next read and after it."""
    buckets = {at: (lo, hi) for at, lo, hi in points}
    step = bucket.total_seconds()
    for at, v in trend:
        b = datetime.fromtimestamp(at.timestamp() // step * step, tz=timezone.utc)
        lo, hi = buckets.get(b, (None, None))
        buckets[b] = (v if lo is None else min(lo, v), v if hi is None else max(hi, v))
    return [(b, lo, hi) for b, (lo, hi) in sorted(buckets.items())]


def y_range(values: Sequence[float], thresholds: Sequence[float] = ()) -> tuple[float, float]:
    """The y axis: the values and the bands' thresholds, with a tenth of their span (or
    1) to spare either side, but never below 0 when nothing drawn is below 0: an error
    rate, a latency or a count cannot be negative, and an axis from -0.1 % says it could."""
    drawn = [*values, *thresholds]
    lo, hi = min(drawn), max(drawn)
    pad = (hi - lo) * 0.1 or 1
    return (lo - pad if lo < 0 else max(0.0, lo - pad)), hi + pad


class GateChart(PlotextPlot):
    DEFAULT_CSS = """
    GateChart { height: 1fr; min-height: 8; }
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        self._shown: tuple | None = None
        self._args: tuple = (None,)
        self._kw: dict = {}
        self.title_text = ""  # the plot's title as drawn (what a test or a screen reader reads)
        self.marker_labels: tuple[str, ...] = ()  # the rollout actions marked, oldest first

    def on_mount(self) -> None:
        super().on_mount()
        # The lines take the theme's colours when they are plotted: a new theme replots.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._replot())

    def on_resize(self) -> None:
        self._replot()  # the number of ticks follows the width

    def _replot(self) -> None:
        self._shown = None
        self.show(*self._args, **self._kw)

    def _colour(self, name: str, fallback: str):
        """A theme colour as plotext takes it, an (r, g, b) tuple."""
        value = self.app.theme_variables.get(name)
        return Color.parse(value).rgb if value else fallback

    def render(self):
        if self.size.height < MIN_ROWS:
            return Text("history: too few rows to draw", style="italic")
        return super().render()

    def show(self, gate: GateReading | None, *, window: str = "1h", end: datetime | None = None,
             zone: tzinfo = timezone.utc, values: Sequence[float | None] = (), times: Sequence[datetime] = (),
             view: ChartView | None = None) -> None:
        """Draw `gate` over `window` up to `end` in `zone`, from `view` (when it is
        this gate's and this window's), and in the 1 h window the trend's `values`
        (at the `times` they were recorded) newer than the view; the rollout's
        actions from `view`."""
        self._args, self._kw = (gate,), dict(window=window, end=end, zone=zone, values=values, times=times, view=view)
        end = end or datetime.now(timezone.utc)
        span = CHART_WINDOWS.get(window, CHART_WINDOWS["1h"])[0]
        # The axis moves on in whole minutes (a week's in whole hours): a snapshot a
        # second later redraws nothing unless the data changed.
        step = 60 if window == "1h" else 900 if window == "24h" else 3600
        end = datetime.fromtimestamp(-(-end.timestamp() // step) * step, tz=timezone.utc)
        start = end - span
        view_here = view if view is not None and gate is not None and view.gate == gate.name and view.window == window else None
        bucket = CHART_WINDOWS.get(window, CHART_WINDOWS["1h"])[1]
        unit = f" ({visible(gate.unit, limit=20)})" if gate is not None and gate.unit else ""
        words = f"{WINDOW_WORDS.get(window, window)} · {zone_name(zone, end)}"
        rows: list[tuple[datetime, float | None, float | None]] = []
        if window == "1h":
            # The trend's points: all of the hour before the window is read, then only
            # those recorded after the read (the read has the rest), in the read's buckets.
            trend = trend_points(values, times, end, start)
            if view_here is not None:
                trend = [(at, v) for at, v in trend if at > view_here.end]
            rows = fold(view_here.points if view_here is not None else (), trend, bucket)
            missing = "no history yet" if view_here is None else "nothing recorded in this window"
        elif view_here is None:
            missing = f"reading the {WINDOW_WORDS.get(window, window)}…"
        else:
            rows = list(view_here.points)
            missing = "nothing recorded in this window"
        # A read began its window at its own moment: the bucket that straddles the axis's
        # start holds a part of one, different at each read, and lies off the axis anyway.
        rows = [row for row in rows if row[0] >= start]
        if view_here is not None and view_here.failed:
            words += f" · not read now: {visible(view_here.failed, limit=60)}"
        events = view.events if view is not None else ()
        # What is drawn, not what was handed: a read every 30 s that brings what the
        # trend had already folded in, or a trend value that moves no bucket's lowest
        # or highest, replots nothing (plotext's build is the costly part).
        key = (gate.name if gate else None, gate.bands if gate else None, unit, window, end, str(zone), words,
               tuple(rows), events, self.size.width, self.size.height)
        if key == self._shown:
            return
        self._shown = key
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        self.marker_labels = ()
        if gate is None:
            self._title("select a gate (↑/↓)")
            self.refresh()
            return
        name = visible(gate.name, limit=60)
        lower_better = gate.bands is None or gate.bands.green.lower_is_better
        # Each bucket's worst (the highest where lower is better) is the line; its
        # best, muted, beside it: a spike is never averaged away.
        worst = [(at, hi if lower_better else lo) for at, lo, hi in rows if (hi if lower_better else lo) is not None]
        best = [(at, lo if lower_better else hi) for at, lo, hi in rows if (lo if lower_better else hi) is not None]
        series = [worst, best]
        pts = series[0]
        if not pts:
            self._title(f"{name}{unit}, {words}: {missing}")
            self.refresh()
            return
        self._title(f"{name}{unit}, {words}")
        span_s = span.total_seconds()

        def x(at: datetime) -> float:
            return (at - start).total_seconds()

        plt.xlim(0, span_s)
        ticks = clock_ticks(start, end, zone, max_ticks=max(2, self.size.width // 12))
        plt.xticks([x(at) for at, _ in ticks], [label for _, label in ticks])
        thresholds = (gate.bands.green.threshold, gate.bands.red.threshold) if gate.bands else ()
        lo, hi = y_range([v for s in series for _, v in s], thresholds)
        plt.ylim(lo, hi)
        if len(series) > 1 and series[1]:
            plt.plot([x(at) for at, _ in series[1]], [v for _, v in series[1]], marker="braille",
                     color=self._colour("foreground-muted", "gray"))
        plt.plot([x(at) for at, _ in pts], [v for _, v in pts], marker="braille", color=self._colour("accent", "cyan"))
        if gate.bands:
            plt.hline(gate.bands.green.threshold, self._colour("success", "green"))
            plt.hline(gate.bands.red.threshold, self._colour("error", "red"))
        self._mark(events, start, end, x, lo, hi)
        self.refresh()

    def _mark(self, events, start: datetime, end: datetime, x, lo: float, hi: float) -> None:
        """A vertical line where each rollout action happened, its label at the top;
        labels that would touch step down a row."""
        marks = markers_in_window(events, start, end)
        self.marker_labels = tuple(label for _, label in marks)
        row = (hi - lo) / max(1, self.size.height - 4)
        last_x, level = None, 0
        cols = (end - start).total_seconds() / max(1, self.size.width - 8)
        for at, label in marks:
            auto = label.endswith(" auto") or label.startswith("⟲")
            colour = self._colour("error" if auto else "warning", "red" if auto else "yellow")
            level = level + 1 if last_x is not None and (x(at) - last_x) / cols < len(label) + 1 else 0
            last_x = x(at)
            plt = self.plt
            plt.plot([x(at), x(at)], [lo, hi], marker="│", color=colour)
            # A label near the right edge is written leftwards from its line, not cut off.
            right = (end - at).total_seconds() / cols < len(label) + 1
            plt.text(label, x(at), hi - row * (level % 3), alignment="right" if right else "left", color=colour)

    def _title(self, text: str) -> None:
        self.title_text = text
        self.plt.title(text)
