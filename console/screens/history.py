"""`H`: the audit trail of the rollout, newest first."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from checks.models import AuditEvent, ReviewRecord
from checks.times import time_text
from widgets.literal import literal, visible
from widgets.key_footer import KeyFooter


class HistoryScreen(Screen):
    CSS_PATH = "history.tcss"
    BINDINGS = [Binding("escape,H", "app.pop_screen", "Back", id="close_history")]

    def compose(self) -> ComposeResult:
        yield Static("", id="history-title")
        yield DataTable(id="history", cursor_type="row")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in (("at", "When"), ("who", "Who"), ("action", "Action"), ("move", "From → to"),
                           ("verdict", "Verdict"), ("flags", ""), ("reason", "Reason")):
            table.add_column(label, key=key)
        self.query_one("#history-title", Static).update(Text("loading the audit trail…", style="dim"))
        self._shown: tuple[str, list[AuditEvent]] | None = None
        # `z` flips every time on screen between the configured zone and UTC, here too.
        self.watch(self.app, "zone", self._rezone, init=False)
        self.app.load_history(self)

    def _rezone(self, _zone) -> None:
        if self._shown is not None:
            self.show(*self._shown)

    def show(self, flag: str, history: list[AuditEvent]) -> None:
        self._shown = (flag, history)
        zone = self.app.zone
        title = Text.assemble((f"Audit trail of {visible(flag, limit=100)}", "bold"), (f"   {len(history)} events, newest first", "dim"))
        self.query_one("#history-title", Static).update(title)
        table = self.query_one(DataTable)
        table.clear()
        if not history:
            table.add_row("", "", "", "", "", "", Text("no events yet: nobody has acted on this rollout", style="dim italic"))
        for h in reversed(history):
            action, reason = literal(h.action, limit=20), literal(h.reason)
            if h.review is not None:  # a go/no-go review: the decision, and each criterion's mark
                action = Text(f"review {h.review.decision}", style="bold")
                reason = _review_text(h.review)
            table.add_row(Text(time_text(h.at, zone, date=True)), literal(h.operator, limit=60),
                          action, literal(f"{h.from_pct} → {h.to_pct} %"),
                          literal(h.verdict, limit=20), Text(h.marks, style="bold yellow"), reason)

    def failed(self, why: str) -> None:
        self.query_one("#history-title", Static).update(Text(f"cannot load the audit trail: {visible(why, limit=300)}", style="bold red"))


def _review_text(r: ReviewRecord) -> Text:
    """`reason · present: ana, bo · ✔ uptime ✖ daily_cost (note)`: one line of the trail."""
    out = literal(r.reason, limit=300)
    if r.present:
        out.append(" · present: ")
        out.append(literal(r.present, limit=200))
    out.append(" ·")
    for m in r.criteria:
        out.append(" ✔ " if m.accepted else " ✖ ", style="bold green" if m.accepted else "bold red")
        out.append(literal(m.gate, limit=60))
        if m.note:
            out.append(" (")
            out.append(literal(m.note, limit=120))
            out.append(")")
    return out
