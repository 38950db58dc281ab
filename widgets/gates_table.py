"""The gates panel: one row per gate, updated cell by cell, its columns fitted to its width."""
from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.events import Resize
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from checks.models import Band, GateReading

from .format import BAND_CLASS, BAND_CLASSES, band_css, band_label, sparkline
from .literal import literal

# The order on screen.
COLUMNS = (("gate", "Gate"), ("value", "Value"), ("band", "Band"), ("trend", "Trend"), ("bands", "Green/red"),
           ("window", "Window"), ("detail", "Detail"))
# What matters at 3 a.m. is kept however narrow the panel: the gate, its value, its band,
# and the detail that says which target is down. The others are dropped, least useful first,
# when they would squeeze the detail below DETAIL_MIN.
ALWAYS = ("gate", "value", "band", "detail")
OPTIONAL = ("window", "trend", "bands")  # kept in this order while they fit
DETAIL_MIN = 24
TREND_WIDTH = 12


class GatesTable(DataTable):
    COMPONENT_CLASSES = BAND_CLASSES
    DEFAULT_CSS = """
    GatesTable { height: auto; max-height: 100%; overflow-x: hidden; }
    """ + band_css("GatesTable")

    def __init__(self, **kw):
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self._rows: dict[str, tuple] = {}  # every column's cell, shown or not, by gate name
        self._shown: tuple[tuple[str, int], ...] = ()  # the columns on screen and their widths
        self._last: tuple[tuple[GateReading, ...], dict] | None = None
        self._built: dict[str, tuple[GateReading, tuple, tuple]] = {}  # by gate: the reading, trend and cells built

    def on_mount(self) -> None:
        # Colours are baked into the cells: a new theme rebuilds them.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._restyle())

    def on_resize(self, event: Resize) -> None:
        self._fit()

    def show(self, gates: tuple[GateReading, ...], history: dict[str, tuple]) -> None:
        """Update only the cells whose content changed, and repaint only their rows."""
        self._last = (gates, history)
        new_rows = {g.name: self._row_cells(g, history.get(g.name, ())) for g in gates}
        if list(new_rows) != list(self._rows):
            self._rows = new_rows
            self._fit(force=True)
            return
        old_rows, self._rows = self._rows, new_rows
        if self._layout() != self._shown:
            self._fit(force=True)
            return
        shown = {key for key, _ in self._shown}
        changes = {}
        for name, cells in new_rows.items():
            if cells is old_rows[name]:
                continue  # the same reading and trend as the last snapshot's
            changed = {key: new for (key, _), new, prev in zip(COLUMNS, cells, old_rows[name])
                       if key in shown and new != prev}
            if changed:
                changes[name] = changed
        if changes:
            self._set_cells(changes)

    def _row_cells(self, g: GateReading, hist) -> tuple:
        """The row's cells, the very tuple of the last snapshot when its reading and
        trend are the same (most gates, most seconds)."""
        built = self._built.get(g.name)
        if built is not None and built[0] == g and built[1] is hist:
            return built[2]
        cells = self._cells(g, hist)
        self._built[g.name] = (g, hist, cells)
        return cells

    def _set_cells(self, changes: dict[str, dict[str, object]]) -> None:
        """Put new cells in their rows and repaint those rows alone.

        DataTable.update_cell bumps one counter that keys every one of its render caches,
        so changing one cell re-renders every row (at 1 Hz, most of the console's idle
        cost). Here only the changed cells' renders are dropped (a cell is rendered by
        Rich, the costly part: a row changing each second mostly changes one or two
        cells, its detail's count of probes) with the row's assembled line, and the row's
        region repainted; the other rows and cells are drawn from their caches. (textual
        is pinned: these caches are DataTable's own, and tests/test_layout.py checks the
        repaint stays row-local.)"""
        rows = {RowKey(name) for name in changes}
        cells = {(RowKey(name), ColumnKey(key)) for name, changed in changes.items() for key in changed}
        indexes = {self.get_row_index(row) for row in rows}
        for name, changed in changes.items():
            for key, value in changed.items():
                self._data[RowKey(name)][ColumnKey(key)] = value
        # One pass over each cache (the cells' holds up to 10 000 entries).
        for cache, matches in ((self._row_render_cache, lambda k: k[0] in rows),
                               (self._cell_render_cache, lambda k: (k[0], k[1]) in cells),
                               (self._row_renderable_cache, lambda k: k[1] in indexes)):
            for k in [k for k in cache.keys() if matches(k)]:
                cache.discard(k)
        self._line_cache.clear()  # keyed by screen line; the other rows' lines are rebuilt from their row caches
        for index in sorted(indexes):
            self.refresh_row(index)

    def _restyle(self) -> None:
        self._built.clear()  # the colours are baked into the cells
        if self._last is not None:
            self._rows = {g.name: self._cells(g, self._last[1].get(g.name, ())) for g in self._last[0]}
            self._fit(force=True)

    def _layout(self) -> tuple[tuple[str, int], ...]:
        """The columns that fit in the panel's width, in screen order, with their widths
        (the detail takes what is left, and is cut with an ellipsis)."""
        pad = 2 * self.cell_padding
        natural = {key: max([len(label)] + [_width(cells[i]) for cells in self._rows.values()])
                   for i, (key, label) in enumerate(COLUMNS)}
        room = self.scrollable_content_region.width or self.size.width
        used = sum(natural[k] + pad for k in ALWAYS if k != "detail")
        detail_min = min(natural["detail"], DETAIL_MIN) + pad
        keep = set(ALWAYS)
        for key in OPTIONAL:
            if used + natural[key] + pad + detail_min <= room:
                keep.add(key)
                used += natural[key] + pad
        detail = max(len("Detail"), room - used - pad)
        return tuple((key, detail if key == "detail" else natural[key]) for key, _ in COLUMNS if key in keep)

    def _fit(self, force: bool = False) -> None:
        """Lay the columns out again for this width; rebuilt only when it changed."""
        if not self.is_mounted or not self._rows:
            return
        layout = self._layout()
        if layout == self._shown and not force:
            return
        self._shown = layout
        row = self.cursor_row
        labels = dict(COLUMNS)
        index = {key: i for i, (key, _) in enumerate(COLUMNS)}
        with self.app.batch_update():
            self.clear(columns=True)
            for key, width in layout:
                self.add_column(labels[key], key=key, width=width)
            for name, cells in self._rows.items():
                self.add_row(*(cells[index[key]] for key, _ in layout), key=name)
            if 0 <= row < len(self._rows):
                self.move_cursor(row=row, animate=False)

    def _style(self, name: str):
        return self.get_component_rich_style(name, partial=True)

    def _cells(self, g: GateReading, hist) -> tuple:
        style = self._style(BAND_CLASS[g.band])
        muted = self._style("band--muted")
        value = literal(g.shown, style=muted + Style(strike=True) if g.stale else "", limit=40)
        if g.stale:
            # Stale is said in words: the band last seen is not a band now.
            band = Text("◌ STALE", style=self._style("band--stale"))
        else:
            band = Text(band_label(g.band), style=style)
        bands = f"{g.bands.green}/{g.bands.red}".replace(" ", "") if g.bands else ""
        trend = Text(sparkline(hist, width=TREND_WIDTH, bands=g.bands), style=style if g.band is not Band.UNKNOWN else muted)
        window = g.window if g.target in ("", "all", "sql", "promql") else f"{g.window} {g.target}"
        detail = literal(g.detail, style=muted)
        detail.no_wrap, detail.overflow = True, "ellipsis"  # cut to the column, never wrapped to a second line
        return (literal(g.name, style="bold", limit=60), value, band, trend, literal(bands), literal(window, limit=80),
                detail)

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
