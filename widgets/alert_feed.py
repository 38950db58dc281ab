"""The alert feed: newest first, coloured by severity, with time (in the screen's
zone, written) and source.

The summary column takes the width that is left and cuts the text to it: the feed
never scrolls sideways (the alert's detail screen has the whole text).

The feed keeps the row the operator selected across refreshes by the alert's
fingerprint (a new alert arriving on top must not move the cursor onto another
alert just before `k` acknowledges it), and shows only the alerts that match its
filter (`matches`), set by the screen from the `/` input (`AlertFilter`)."""
from __future__ import annotations

from datetime import datetime, timezone, tzinfo

from rich.text import Text
from textual.widgets import DataTable, Input

from checks.models import Alert
from checks.times import time_text

from .format import SEVERITY_STYLE
from .literal import literal, visible

SOURCE_TAG = {"rule": "rule", "alertmanager": "am", "events": "event", "rollout": "rollout"}
NONE_KEY = "-none-"  # the placeholder row ("loading…", "no alerts")


def matches(alert: Alert, query: str) -> bool:
    """Every word of `query` is found, case-insensitively, in the alert's severity,
    source, name or summary: `critical`, `P1`, `am disk` all filter as one expects."""
    hay = " ".join((alert.severity, alert.source, SOURCE_TAG.get(alert.source, ""), alert.name,
                    alert.summary)).casefold()
    return all(word in hay for word in query.casefold().split())


class AlertFilter(Input):
    """The `/` prompt of the feed. Shown while it is being typed or holds a filter."""

    DEFAULT_CSS = """
    AlertFilter, AlertFilter:focus { display: none; height: 1; border: none; padding: 0 1; }
    AlertFilter.-active { display: block; }
    """


SEV_WIDTH = 8  # "critical"


class AlertFeed(DataTable):
    # The summary is cut to the column, never scrolled to: no sideways scrollbar at any width.
    DEFAULT_CSS = """
    AlertFeed { overflow-x: hidden; }
    """

    def __init__(self, **kw):
        super().__init__(cursor_type="row", **kw)
        self._alerts: tuple[Alert, ...] | None = None  # what the snapshot holds
        self._shown: tuple[Alert, ...] | None = None  # what is on screen (the filter applied)
        self.query_text = ""
        self.zone: tzinfo = timezone.utc
        self._widths: tuple[int, int] | None = None
        self._compact = False  # no severity column: the severity leads the alert's text

    # Not `loading`: that name is Textual's reactive, and a method there made the feed
    # count as loading, so focus skipped it and no alert could be selected.
    def show_loading(self) -> None:
        if self._shown is None and self.row_count == 0:
            self._add("", "", Text("loading…", style="dim italic"), key=NONE_KEY)

    def on_mount(self) -> None:
        self._columns()

    def on_resize(self) -> None:
        self._refit()

    def _refit(self) -> bool:
        """New column widths (the rows drawn again) when the panel's width or the
        zone's label asks for them."""
        if not self._columns():
            return False
        if self._alerts is not None:
            self._render(self._alerts)
        else:
            self.show_loading()
        return True

    def _columns(self) -> bool:
        """Fixed widths that add up to the panel's (less a vertical scrollbar, which
        comes and goes with the number of rows): the time's, the severity's, and
        the rest for the alert. True when they changed."""
        time_w = len(time_text(datetime(2000, 1, 1, tzinfo=timezone.utc), self.zone, seconds=False))
        pad = 2 * self.cell_padding
        room = self.size.width - self.styles.scrollbar_size_vertical
        name_w = room - (time_w + pad) - (SEV_WIDTH + pad) - pad
        # A narrow panel (the bottom strip at 80 columns) gives the alert the severity's
        # column: the severity leads the alert's text instead.
        compact = name_w < 16
        if compact:
            name_w += SEV_WIDTH + pad
        name_w = max(4, name_w)
        if (time_w, name_w) == self._widths:
            return False
        self._widths = (time_w, name_w)
        self._compact = compact
        self.clear(columns=True)
        self.add_column("Time", key="at", width=time_w)
        if not compact:
            self.add_column("Sev", key="sev", width=SEV_WIDTH)
        self.add_column("Alert", key="name", width=name_w)
        return True

    def _add(self, at: Text | str, sev: Text | str, name: Text, key: str | None) -> None:
        if self._compact:
            if sev:
                name = Text.assemble(sev, " ", name)
                name.no_wrap, name.overflow = True, "ellipsis"
            self.add_row(at, name, key=key)
        else:
            self.add_row(at, sev, name, key=key)

    def set_zone(self, zone: tzinfo) -> None:
        """Write the times in `zone` (the screen's: the configured one, or UTC)."""
        if zone == self.zone:
            return
        self.zone = zone
        if not self._refit() and self._alerts is not None:
            self._render(self._alerts)

    def set_filter(self, query: str) -> None:
        self.query_text = query.strip()
        if self._alerts is not None:
            self._render(self._alerts)

    def show(self, alerts: tuple[Alert, ...]) -> None:
        if alerts == self._alerts:
            return  # alerts change rarely: redraw only when they do
        self._alerts = alerts
        self._render(alerts)

    @property
    def total(self) -> int:
        return len(self._alerts or ())

    @property
    def shown_count(self) -> int:
        return len(self._shown or ())

    def _render(self, alerts: tuple[Alert, ...]) -> None:
        chosen = self.selected
        keep_fp = chosen.fingerprint if chosen is not None else None
        keep_row = self.cursor_row
        shown = tuple(a for a in alerts if matches(a, self.query_text)) if self.query_text else alerts
        self._shown = shown
        self.clear()
        for a in shown:
            style = "dim" if a.acked else SEVERITY_STYLE.get(a.severity.lower(), "")
            # The state goes first, where a narrow panel still shows it.
            name = Text()
            if a.acked:
                name.append("✓ ", style="green")
            name.append(f"{visible(SOURCE_TAG.get(a.source, a.source), limit=20)} ", style="dim")
            name.append(literal(a.name, style="bold" if not a.acked else "dim", limit=200))
            if a.summary:
                name.append("  ")
                name.append(literal(a.summary, style="dim" if a.acked else "", limit=400))
            name.no_wrap, name.overflow = True, "ellipsis"  # cut to the column, never wrapped
            sev = a.severity.upper() if a.severity.lower().startswith("p") else a.severity
            self._add(
                Text(time_text(a.at, self.zone, seconds=False), style="dim"),
                literal(sev, style=style, limit=12),
                name,
                key=a.fingerprint or None,
            )
        if shown:
            # The same alert stays selected, wherever it moved; if it is gone, the
            # cursor stays at its place in the list.
            row = next((i for i, a in enumerate(shown) if keep_fp and a.fingerprint == keep_fp), keep_row)
            self.move_cursor(row=min(max(row, 0), len(shown) - 1), animate=False)
        else:
            empty = f"no alert matches “{visible(self.query_text, limit=60)}”" if self.query_text else "no alerts"
            self._add("", "", Text(empty, style="dim italic"), key=NONE_KEY)

    @property
    def selected(self) -> Alert | None:
        if not self._shown or self.cursor_row < 0 or self.cursor_row >= len(self._shown):
            return None
        return self._shown[self.cursor_row]
