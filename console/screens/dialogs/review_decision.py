"""The end of a review (`d` on the review screen): record GO or NO-GO, with a reason
and the names of those present. The decision is typed out (GO or NO-GO), so no
stray key records one; focus starts there, and Esc cancels. A GO over a criterion
not accepted is an override: the dialog says which criteria and asks for the flag's
name typed out, as the action dialog's override does."""
from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from checks import review
from checks.models import CriterionMark, ReviewDecision, Snapshot
from widgets.format import VERDICT_STYLE
from widgets.literal import literal, visible


class ReviewDecisionDialog(ModalScreen[ReviewDecision | None]):
    CSS_PATH = "review_decision.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel_review_decision")]

    def __init__(self, marks: Sequence[CriterionMark], snapshot: Snapshot):
        super().__init__()
        self.marks = tuple(marks)
        self.snap = snapshot
        self.flag = snapshot.rollout.flag if snapshot.rollout else ""
        self.missing = review.not_accepted(self.marks)

    def compose(self) -> ComposeResult:
        s = self.snap
        pct = f" at {s.rollout.percentage} %" if s.rollout else ""
        with Vertical(id="review-decision-box"):
            yield Static(Text(f"Record the go/no-go decision on {visible(self.flag, limit=100)}{pct}", style="bold"))
            verdict = Text.assemble(("verdict now: ", "dim"), (f" {s.verdict.value} ", VERDICT_STYLE[s.verdict.value]),
                                    ("   criteria: ", "dim"), literal(review.summary(self.marks), limit=400))
            yield Static(verdict, id="review-decision-summary")
            yield Input(placeholder="decision: type GO or NO-GO", id="decision", max_length=8)
            yield Input(placeholder="reason (required; recorded in the audit trail)", id="reason", max_length=1000)
            yield Input(placeholder="present: the names of the others in the review (free text)", id="present",
                        max_length=500)
            yield Static(Text.assemble(
                ("OVERRIDE: GO although these are not accepted: ", "bold yellow"),
                literal(", ".join(self.missing), "bold", limit=400),
                (". It is recorded as an override.", "bold yellow")), id="review-override-hint")
            yield Input(placeholder=f"type {self.flag} to confirm the override", id="confirm")
            yield Static("", id="review-decision-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Record", id="record", variant="primary")

    def on_mount(self) -> None:
        self._override_shown(False)
        self.query_one("#decision").focus()

    @property
    def decision(self) -> str:
        return self.query_one("#decision", Input).value.strip().upper()

    @property
    def needs_override(self) -> bool:
        return self.decision == "GO" and bool(self.missing)

    def _override_shown(self, shown: bool) -> None:
        self.query_one("#review-override-hint").display = shown
        self.query_one("#confirm").display = shown
        self.query_one("#review-decision-box").set_class(shown, "danger")

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "decision":
            self._override_shown(self.needs_override)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
        elif event.button.id == "record":
            self._submit()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "decision" and self.decision not in ("GO", "NO-GO"):
            self._error("type the decision: GO or NO-GO", "decision")  # a stray Enter only asks
            return
        order = ["decision", "reason", "present"] + (["confirm"] if self.needs_override else [])
        at = order.index(event.input.id) if event.input.id in order else len(order) - 1
        if at + 1 < len(order):
            self.query_one(f"#{order[at + 1]}").focus()
        else:
            self._submit()

    def _error(self, text: str, focus: str) -> None:
        self.query_one("#review-decision-error", Static).update(Text(text, style="bold red"))
        self.query_one(f"#{focus}").focus()

    def _submit(self) -> None:
        decision = self.decision
        if decision not in ("GO", "NO-GO"):
            self._error("type the decision: GO or NO-GO", "decision")
            return
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self._error("a reason is required", "reason")
            return
        if decision == "GO" and not self.marks:
            self._error("there are no criteria to accept: GO cannot be recorded", "decision")
            return
        if self.needs_override and self.query_one("#confirm", Input).value.strip() != self.flag:
            self._error(f"type the flag name ({visible(self.flag, limit=100)}) exactly to confirm the override",
                        "confirm")
            return
        self.dismiss(ReviewDecision(
            decision=decision, reason=reason, present=self.query_one("#present", Input).value.strip(),
            criteria=self.marks, override=self.needs_override,
            seen_version=self.snap.rollout.version if self.snap.rollout else None))
