"""The selected gate's recent history, with its green and red thresholds."""
from __future__ import annotations

from rich.text import Text
from textual.color import Color
from textual_plotext import PlotextPlot

from checks.models import GateReading

from .literal import visible

MIN_ROWS = 6  # below this plotext draws axes over each other: say so instead


class GateChart(PlotextPlot):
    DEFAULT_CSS = """
    GateChart { height: 1fr; min-height: 8; }
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        self._shown: tuple | None = None
        self._args: tuple = (None, ())

    def on_mount(self) -> None:
        super().on_mount()
        # The lines take the theme's colours when they are plotted: a new theme replots.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._replot())

    def _replot(self) -> None:
        self._shown = None
        self.show(*self._args)

    def _colour(self, name: str, fallback: str):
        """A theme colour as plotext takes it, an (r, g, b) tuple."""
        value = self.app.theme_variables.get(name)
        return Color.parse(value).rgb if value else fallback

    def render(self):
        if self.size.height < MIN_ROWS:
            return Text("history: too few rows to draw", style="italic")
        return super().render()

    def show(self, gate: GateReading | None, values: tuple) -> None:
        self._args = (gate, values)
        key = (gate.name if gate else None, values, gate.bands if gate else None)
        if key == self._shown:
            return
        self._shown = key
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if gate is None:
            plt.title("select a gate (↑/↓)")
            self.refresh()
            return
        n = len(values)
        # x is minutes before now (evaluations are recorded 15 s apart)
        pts = [(-(n - 1 - i) * 0.25, v) for i, v in enumerate(values) if v is not None]
        unit = f" ({visible(gate.unit, limit=20)})" if gate.unit else ""
        name = visible(gate.name, limit=60)
        plt.title(f"{name}{unit}, last {n * 15 // 60} min")
        plt.xlabel("minutes ago")
        if pts:
            xs, ys = zip(*pts)
            plt.plot(list(xs), list(ys), marker="braille", color=self._colour("accent", "cyan"))
            if gate.bands:
                plt.hline(gate.bands.green.threshold, self._colour("success", "green"))
                plt.hline(gate.bands.red.threshold, self._colour("error", "red"))
                lo = min(min(ys), gate.bands.green.threshold, gate.bands.red.threshold)
                hi = max(max(ys), gate.bands.green.threshold, gate.bands.red.threshold)
                pad = (hi - lo) * 0.1 or 1
                plt.ylim(lo - pad, hi + pad)
        else:
            plt.title(f"{name}: no history yet")
        self.refresh()
