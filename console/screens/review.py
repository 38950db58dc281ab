"""`v`: the go/no-go review. The burn-in criteria one by one (the gates of `[review]
criteria`, every gate by default): ↑/↓ between them, each with its value, window,
coverage and band; Enter reads the selected criterion's evidence (its 7-day chart
with the rollout's actions marked, the failed probes of its targets, the evidence
query's rows); space marks it accepted or not, `n` gives it a note; `d` records GO
or NO-GO (console/screens/dialogs/review_decision.py).

The screen renders and collects marks. The App reads the evidence and records the
decision in its own workers (a popped screen would cancel its own) and keeps the
marks while the console runs, so Esc and `v` again lose nothing."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Input, Static

from checks import review
from checks.models import CriterionEvidence, CriterionMark, GateReading, Snapshot
from checks.times import time_text
from widgets.format import band_label
from widgets.gate_chart import GateChart
from widgets.key_footer import KeyFooter
from widgets.literal import literal, visible

from .answered import AnsweredScreen

NOTE_LIMIT = 500  # characters of a note kept (it goes into the audit trail)
EVIDENCE_CELL = 60  # characters of an evidence cell shown
FAILED_SHOWN = 50  # failed probes of a criterion's targets listed, the newest of the period


def mark_symbol(m: CriterionMark) -> Text:
    return Text("✔ accepted", style="bold green") if m.accepted else Text("✖ not accepted", style="bold red")


class ReviewScreen(AnsweredScreen):
    CSS_PATH = "review.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Close the note, or the review (its marks are kept)", id="review_back"),
        Binding("space", "toggle_mark", "Accept/not",
                tooltip="Mark the selected criterion accepted, or not accepted (unmarked is not accepted)",
                id="review_mark"),
        Binding("n", "note", "Note", tooltip="Write a note on the selected criterion (Enter keeps it)",
                id="review_note"),
        Binding("d", "decide", "Decide",
                tooltip="Record GO or NO-GO with a reason and who is present; GO over a criterion not accepted"
                        " asks for the override", id="review_decide"),
    ]

    def __init__(self, marks: Sequence[CriterionMark], snapshot: Snapshot):
        super().__init__()
        self.marks: tuple[CriterionMark, ...] = tuple(marks)
        self.snap = snapshot
        self.evidence: CriterionEvidence | None = None
        self._asked: str | None = None  # the criterion whose evidence was asked for last

    # -- layout -------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="review-title")
        yield DataTable(id="review-criteria", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="review-evidence"):
            yield Static(Text("Enter: the selected criterion's evidence", style="dim italic"),
                         id="review-evidence-head")
            yield GateChart(id="review-chart")
            yield Static("", id="review-evidence-body")
        yield Input(placeholder="note on this criterion (Enter keeps it, Esc drops it)", id="review-note",
                    max_length=NOTE_LIMIT)
        # The review's own keys first: without `space` and `d` on screen, nobody finds how
        # to mark a criterion or record the decision.
        yield KeyFooter(rank=("back", "toggle_mark", "decide", "note", "help", "quit"))

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in (("mark", "Mark"), ("gate", "Criterion"), ("value", "Value"), ("window", "Window"),
                           ("coverage", "Coverage"), ("band", "Band"), ("note", "Note")):
            table.add_column(label, key=key)
        for m in self.marks:
            table.add_row(*self._cells(m), key=m.gate)
        self.query_one("#review-chart").display = False
        self.query_one("#review-note").display = False
        self._title()
        table.focus()
        self.watch(self.app, "snapshot", self._on_snapshot, init=False)
        self.watch(self.app, "zone", lambda _z: self._show_evidence_now(), init=False)
        super().on_mount()

    def _cells(self, m: CriterionMark) -> tuple:
        return (mark_symbol(m), literal(m.gate, "bold", limit=60), literal(m.shown or "—", limit=40),
                literal(m.window or "now", limit=20), Text(review.coverage_text(m.coverage)),
                Text(band_label(m.band)), literal(m.note, limit=80))

    def _title(self) -> None:
        s = self.snap
        r = s.rollout
        where = f"{visible(r.flag, limit=100)} at {r.percentage} %" if r is not None else "the rollout"
        out = Text.assemble((f"Go/no-go review of {where}", "bold"), ("   verdict now ", "dim"),
                            (s.verdict.value, "bold"), ("   ", ""), literal(review.summary(self.marks), limit=300))
        self.query_one("#review-title", Static).update(out)

    def _redraw(self, gate: str) -> None:
        table = self.query_one(DataTable)
        m = next(x for x in self.marks if x.gate == gate)
        for key, cell in zip(("mark", "gate", "value", "window", "coverage", "band", "note"), self._cells(m)):
            table.update_cell(gate, key, cell)
        self._title()
        self.app.review_marks = self.marks  # kept by the App: Esc and `v` again lose nothing

    def _on_snapshot(self, snap: Snapshot | None) -> None:
        """The values follow the gates until the decision: it records what they said then."""
        if snap is None or not snap.gates:
            return
        self.snap = snap
        fresh = review.refresh(self.marks, snap.gates)
        if fresh != self.marks:
            self.marks = fresh
            for m in fresh:
                self._redraw(m.gate)
        self._title()

    @property
    def selected(self) -> CriterionMark | None:
        table = self.query_one(DataTable)
        if not self.marks or table.cursor_row is None or table.cursor_row >= len(self.marks):
            return None
        return self.marks[table.cursor_row]

    # -- keys -----------------------------------------------------------------------

    def action_back(self) -> None:
        note = self.query_one("#review-note", Input)
        if note.display:
            note.display = False
            self.query_one(DataTable).focus()
            return
        self.app.pop_screen()

    def action_toggle_mark(self) -> None:
        m = self.selected
        if m is None:
            return
        self.marks = review.toggled(self.marks, m.gate)
        self._redraw(m.gate)

    def action_note(self) -> None:
        m = self.selected
        if m is None:
            return
        note = self.query_one("#review-note", Input)
        note.value = m.note
        note.border_title = f"note on {visible(m.gate, limit=60)}"
        note.display = True
        note.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "review-note":
            return
        event.stop()
        m = self.selected
        if m is not None:
            self.marks = review.marked(self.marks, notes={m.gate: event.value.strip()})
            self._redraw(m.gate)
        event.input.display = False
        self.query_one(DataTable).focus()

    def action_decide(self) -> None:
        self.app.open_review_decision(self)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a criterion: its evidence, read by a worker of the App."""
        event.stop()
        gate = str(event.row_key.value)
        self._asked = gate
        head = self.query_one("#review-evidence-head", Static)
        head.update(Text.assemble(("reading the evidence of ", "dim italic"), literal(gate, "bold", limit=60), ("…", "dim")))
        self.app.load_evidence(self, gate)

    # -- the App's answers --------------------------------------------------------------

    def show_evidence(self, evidence: CriterionEvidence) -> None:
        self._answer(self._show_evidence, evidence)

    def _show_evidence(self, evidence: CriterionEvidence) -> None:
        if evidence.gate != self._asked:
            return  # an answer for a criterion the reviewer has left
        self.evidence = evidence
        self._show_evidence_now()

    def _show_evidence_now(self) -> None:
        ev = self.evidence
        if ev is None:
            return
        zone = self.app.zone
        head = Text.assemble(("Evidence of ", "bold"), literal(ev.gate, "bold", limit=60),
                             (f"   since {time_text(ev.since, zone, date=True)}", "dim"))
        self.query_one("#review-evidence-head", Static).update(head)
        chart = self.query_one("#review-chart", GateChart)
        reading = next((g for g in self.snap.gates if g.name == ev.gate), None)
        if ev.chart is not None:
            chart.display = True
            chart.show(reading or GateReading(name=ev.gate, value=None, band="unknown"), window=ev.chart.window,
                       end=ev.chart.end, zone=zone, view=ev.chart)
        else:
            chart.display = False
        self.query_one("#review-evidence-body", Static).update(self._evidence_text(ev))

    def _evidence_text(self, ev: CriterionEvidence) -> Text:
        zone = self.app.zone
        out = Text()
        if ev.error:
            out.append(f"not all evidence could be read: {visible(ev.error, limit=300)}\n\n", style="bold red")
        if ev.failed_total is not None:
            out.append(f"Failed probes of its targets in the period: {ev.failed_total}", style="bold")
            shown = len(ev.failed_probes)
            if shown < ev.failed_total:
                out.append(f"   the newest {shown} listed" if shown else "   none listed", style="dim")
                if shown < FAILED_SHOWN:  # the rest are past the raw rows' retention
                    out.append("; older ones are kept only as hourly counts", style="dim")
            out.append("\n")
            for p in ev.failed_probes:
                out.append(f"  {time_text(p.at, zone, date=True)}  ")
                out.append(literal(p.target, "bold", limit=40))
                out.append(f"  {'HTTP ' + str(p.status) if p.status is not None else 'no answer'}  ", style="red")
                out.append(literal(p.reason, limit=200))
                out.append("\n")
            out.append("\n")
        out.append(f"The rollout's actions in the period: {len(ev.actions)}\n", style="bold")
        for a in ev.actions:
            out.append(f"  {time_text(a.at, zone, date=True)}  ")
            out.append(literal(f"{a.action} {a.from_pct} → {a.to_pct} %", limit=40))
            if a.marks:
                out.append(f" {a.marks}", style="bold yellow")
            out.append("  by ")
            out.append(literal(a.operator, limit=60))
            out.append(": ")
            out.append(literal(a.reason, limit=200))
            out.append("\n")
        if ev.table is not None:
            t = ev.table
            out.append("\nThe rows behind it (its evidence query)\n", style="bold")
            if t.error:
                out.append(f"  not read: {visible(t.error, limit=300)}\n", style="red")
            elif not t.rows:
                out.append("  no rows\n", style="dim")
            else:
                out.append("  " + " | ".join(visible(c, limit=EVIDENCE_CELL) for c in t.columns) + "\n", style="bold")
                for row in t.rows:
                    out.append("  ")
                    out.append(literal(" | ".join(_cell_text(c, zone) for c in row), limit=1000))
                    out.append("\n")
                if t.more:
                    out.append(f"  … more rows than the {len(t.rows)} shown\n", style="dim")
        return out

    def _failed(self, why: str) -> None:
        self.query_one("#review-evidence-head", Static).update(
            Text(f"cannot read the evidence: {visible(why, limit=300)}", style="bold red"))


def _cell_text(cell: str | datetime, zone) -> str:
    """An evidence cell on screen: a time in the console's zone, with the zone written
    (a time without one is taken as UTC, as checks.times does); text as it is, cut."""
    if isinstance(cell, datetime):
        return time_text(cell, zone, date=True)
    return visible(cell, limit=EVIDENCE_CELL)
