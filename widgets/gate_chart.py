"""The selected gate's recent history, with its green and red thresholds."""
from __future__ import annotations

from textual_plotext import PlotextPlot

from checks.models import GateReading

from .literal import visible


class GateChart(PlotextPlot):
    DEFAULT_CSS = """
    GateChart { height: 1fr; min-height: 8; }
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        self._shown: tuple | None = None

    def show(self, gate: GateReading | None, values: tuple) -> None:
        key = (gate.name if gate else None, values, gate.bands if gate else None)
        if key == self._shown:
            return
        self._shown = key
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.theme("pro")
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
            plt.plot(list(xs), list(ys), marker="braille", color="cyan")
            if gate.bands:
                plt.hline(gate.bands.green.threshold, "green")
                plt.hline(gate.bands.red.threshold, "red")
                lo = min(min(ys), gate.bands.green.threshold, gate.bands.red.threshold)
                hi = max(max(ys), gate.bands.green.threshold, gate.bands.red.threshold)
                pad = (hi - lo) * 0.1 or 1
                plt.ylim(lo - pad, hi + pad)
        else:
            plt.title(f"{name}: no history yet")
        self.refresh()
