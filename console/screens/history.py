"""`H`: the audit trail of the rollout, newest first."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from checks.models import AuditEvent
from widgets.literal import literal, visible


class HistoryScreen(Screen):
    CSS_PATH = "history.tcss"
    BINDINGS = [Binding("escape,H", "app.pop_screen", "Back", id="close_history")]

    def compose(self) -> ComposeResult:
        yield Static("", id="history-title")
        yield DataTable(id="history", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in (("at", "When (UTC)"), ("who", "Who"), ("action", "Action"), ("move", "From → to"),
                           ("verdict", "Verdict"), ("flags", ""), ("reason", "Reason")):
            table.add_column(label, key=key)
        self.query_one("#history-title", Static).update(Text("loading the audit trail…", style="dim"))
        self.app.load_history(self)

    def show(self, flag: str, history: list[AuditEvent]) -> None:
        title = Text.assemble((f"Audit trail of {visible(flag, limit=100)}", "bold"), (f"   {len(history)} events, newest first", "dim"))
        self.query_one("#history-title", Static).update(title)
        table = self.query_one(DataTable)
        table.clear()
        if not history:
            table.add_row("", "", "", "", "", "", Text("no events yet: nobody has acted on this rollout", style="dim italic"))
        for h in reversed(history):
            table.add_row(literal(h.at.isoformat()[:19].replace("T", " ")), literal(h.operator, limit=60),
                          literal(h.action, limit=20), literal(f"{h.from_pct} → {h.to_pct} %"),
                          literal(h.verdict, limit=20), Text(h.marks, style="bold yellow"), literal(h.reason))

    def failed(self, why: str) -> None:
        self.query_one("#history-title", Static).update(Text(f"cannot load the audit trail: {visible(why, limit=300)}", style="bold red"))
