"""The gates panel: one row per gate, updated cell by cell."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from checks.models import Band, GateReading

from .format import BAND_STYLE, sparkline
from .literal import literal

# Ordered by what matters at 3 a.m.: the columns that fit in 120 columns come first.
COLUMNS = (("gate", "Gate"), ("value", "Value"), ("band", "Band"), ("trend", "Trend"), ("bands", "Green/red"),
           ("window", "Window"), ("detail", "Detail"))


class GatesTable(DataTable):
    DEFAULT_CSS = """
    GatesTable { height: auto; max-height: 100%; }
    """

    def __init__(self, **kw):
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self._rows: dict[str, tuple] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def show(self, gates: tuple[GateReading, ...], history: dict[str, tuple]) -> None:
        """Update only the cells whose content changed."""
        for g in gates:
            cells = self._cells(g, history.get(g.name, ()))
            old = self._rows.get(g.name)
            if old is None:
                self.add_row(*cells, key=g.name)
            else:
                for (key, _), new, prev in zip(COLUMNS, cells, old):
                    if new != prev:
                        # Widening a column re-lays the table out: only when the text no longer fits.
                        wider = _width(new) > self.columns[ColumnKey(key)].content_width
                        self.update_cell(g.name, key, new, update_width=wider)
            self._rows[g.name] = cells

    @staticmethod
    def _cells(g: GateReading, hist) -> tuple:
        style = BAND_STYLE[g.band]
        value = literal(g.shown, style="dim strike" if g.stale else "", limit=40)
        if g.stale:
            band = Text("STALE", style="bold white on dark_orange3")
        else:
            band = Text(f"● {g.band.value.upper()}", style=style)
        bands = f"{g.bands.green}/{g.bands.red}".replace(" ", "") if g.bands else ""
        trend = Text(sparkline(hist, width=12, bands=g.bands), style=style if g.band is not Band.UNKNOWN else "dim")
        window = g.window if g.target in ("", "all", "sql", "promql") else f"{g.window} {g.target}"
        return (literal(g.name, style="bold", limit=60), value, band, trend, literal(bands), literal(window, limit=80),
                literal(g.detail, style="dim"))

    @property
    def selected_gate(self) -> str | None:
        if not self._rows or self.cursor_row < 0:
            return None
        try:
            return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        except Exception:
            return None


def _width(cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(str(cell))
