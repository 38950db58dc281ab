"""The alert feed: newest first, coloured by severity, with time and source."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from checks.models import Alert

from .format import SEVERITY_STYLE
from .literal import literal, visible

SOURCE_TAG = {"rule": "rule", "alertmanager": "am", "events": "event", "rollout": "rollout"}


class AlertFeed(DataTable):
    def __init__(self, **kw):
        super().__init__(cursor_type="row", **kw)
        self._shown: tuple[Alert, ...] | None = None

    def loading(self) -> None:
        if self._shown is None and self.row_count == 0:
            self.add_row("", "", Text("loading…", style="dim italic"), key="-none-")

    def on_mount(self) -> None:
        self.add_column("Time", key="at")
        self.add_column("Sev", key="sev")
        self.add_column("Alert", key="name")

    def show(self, alerts: tuple[Alert, ...]) -> None:
        if alerts == self._shown:
            return  # alerts change rarely: redraw only when they do
        self._shown = alerts
        keep = self.cursor_row
        self.clear()
        for a in alerts:
            style = "dim" if a.acked else SEVERITY_STYLE.get(a.severity.lower(), "")
            # The state goes first, where a narrow panel still shows it.
            name = Text()
            if a.acked:
                name.append("✓ ", style="green")
            name.append(f"{visible(SOURCE_TAG.get(a.source, a.source), limit=20)} ", style="dim")
            name.append(literal(a.name, style="bold" if not a.acked else "dim", limit=200))
            if a.summary:
                name.append("  ")
                name.append(literal(a.summary, style="dim" if a.acked else ""))
            sev = a.severity.upper() if a.severity.lower().startswith("p") else a.severity
            self.add_row(
                Text(a.at.astimezone().strftime("%H:%M:%S"), style="dim"),
                literal(sev, style=style, limit=12),
                name,
                key=a.fingerprint or None,
            )
        if alerts:
            self.move_cursor(row=min(max(keep, 0), len(alerts) - 1))
        else:
            self.add_row("", "", Text("no alerts", style="dim italic"), key="-none-")

    @property
    def selected(self) -> Alert | None:
        if not self._shown or self.cursor_row < 0 or self.cursor_row >= len(self._shown):
            return None
        return self._shown[self.cursor_row]
