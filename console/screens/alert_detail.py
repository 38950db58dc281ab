"""Enter on an alert: its whole text (the feed cuts it to one line), its labels,
where it came from, when it was first and last seen, and who acknowledged it.

Pushed by the App with the alert as the feed holds it, so its text is there at
once; the App reads the rest (first seen, who acked, labels) in a worker and hands
it over (`show`), or says why it could not (`failed`)."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from checks.models import Alert, AlertDetail
from widgets.literal import literal, visible
from widgets.key_footer import KeyFooter

from .answered import AnsweredScreen

from .gate_detail import clock

SHOWN_LABELS = 50  # as many as checks.alertmanager keeps
SOURCE_NAME = {"rule": "the console's alert rules", "alertmanager": "Alertmanager",
               "events": "the events table", "rollout": "the rollout", "database": "the embedded database"}


class AlertDetailScreen(AnsweredScreen):
    CSS_PATH = "alert_detail.tcss"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back", tooltip="Close the alert's detail", id="close_detail")]

    def __init__(self, alert: Alert):
        super().__init__()
        self.alert = alert
        self._detail: tuple[AlertDetail | None] | None = None

    def on_mount(self) -> None:
        super().on_mount()
        # `z` flips every time on screen between the configured zone and UTC, here too.
        self.watch(self.app, "zone", self._rezone, init=False)

    def _rezone(self, _zone) -> None:
        if self._detail is not None:
            self._show(*self._detail)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="alert-detail-box"):
            yield Static(self._head(), id="alert-detail-head")
            yield Static(Text("reading when it was first seen and who acknowledged it…", style="dim italic"),
                         id="alert-detail-more")
        yield KeyFooter()

    def _head(self) -> Text:
        a = self.alert
        out = Text()
        out.append(literal(a.severity.upper() if a.severity.lower().startswith("p") else a.severity, style="bold",
                           limit=20))
        out.append("  ")
        out.append(literal(a.name, style="bold", limit=1000))
        out.append("\n\n")
        # The whole summary, on as many lines as it has (the feed shows one).
        out.append(literal(a.summary, multiline=True, limit=8000) if a.summary else Text("(no summary)", style="dim"))
        out.append("\n")
        return out

    def _show(self, detail: AlertDetail | None) -> None:
        self._detail = (detail,)
        zone = self.app.zone
        more = self.query_one("#alert-detail-more", Static)
        if detail is None:
            more.update(Text("this alert is no longer in the database (pruned after it resolved)", style="dim"))
            return
        out = Text()

        def row(label: str, value: Text | str) -> None:
            out.append(f"{label:>12}  ", style="bold")
            out.append(value if isinstance(value, Text) else literal(value, limit=1000))
            out.append("\n")

        row("source", f"{SOURCE_NAME.get(detail.source, detail.source)} ({detail.source})")
        row("first seen", clock(detail.first_at, zone))
        row("last seen", clock(detail.last_at, zone))
        row("state", f"resolved at {clock(detail.resolved_at, zone)}" if detail.resolved_at else "firing")
        if detail.acked_at is not None:
            row("acked", Text.assemble(literal(detail.acked_by or "(unknown)", limit=100), f" at {clock(detail.acked_at, zone)}"))
        else:
            row("acked", Text("not acknowledged: k acknowledges it", style="bold"))
        row("fingerprint", detail.fingerprint)
        if detail.labels:
            out.append("\n")
            out.append("labels\n", style="bold")
            # Outside text, bounded when parsed (checks.alertmanager) and again here: one
            # `name=value` line each, sorted, never markup, never a terminal control.
            shown = sorted(detail.labels.items())[:SHOWN_LABELS]
            for key, value in shown:
                out.append("  ")
                out.append(literal(key, style="dim", limit=100))
                out.append("=", style="dim")
                out.append(literal(value, limit=1000))
                out.append("\n")
            hidden = len(detail.labels) - len(shown) + detail.labels_left_out
            if hidden:
                out.append(f"  … {hidden} more label{'' if hidden == 1 else 's'}, not kept\n", style="dim italic")
        elif detail.source == "alertmanager":
            row("labels", Text("none stored for this alert", style="dim"))
        more.update(out)

    def _failed(self, why: str) -> None:
        self.query_one("#alert-detail-more", Static).update(
            Text(f"cannot read the rest of this alert: {visible(why, limit=300)}", style="bold red"))

    # The App's worker may answer before the screen is composed: the answer waits for it.
    def show(self, *args) -> None:
        self._answer(self._show, *args)
