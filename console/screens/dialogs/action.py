"""The confirm dialog for advance / hold / resume / rollback. It says exactly what
will happen and the verdict now, asks for a reason, and for a rollback or an
override asks for the flag's name typed out, which no stray key can give."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from checks.models import ActionRequest, RolloutAction, Snapshot
from checks.rollout import Refusal, Transition
from widgets.format import VERDICT_STYLE
from widgets.literal import literal, visible

TITLES: dict[RolloutAction, str] = {"advance": "Advance", "hold": "Hold", "resume": "Resume", "rollback": "ROLL BACK"}


class ActionDialog(ModalScreen[ActionRequest | None]):
    CSS_PATH = "action.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel_dialog")]

    def __init__(self, action: RolloutAction, plan: Transition | Refusal, snapshot: Snapshot):
        super().__init__()
        self.action_name = action
        self.plan = plan
        self.snap = snapshot
        self.flag = snapshot.rollout.flag if snapshot.rollout else ""
        refused = isinstance(plan, Refusal)
        self.blocked = refused and not plan.overridable
        self.override = refused and plan.overridable
        self.needs_typed_flag = action == "rollback" or self.override

    def compose(self) -> ComposeResult:
        s = self.snap
        with Vertical(id="action-box", classes="danger" if self.needs_typed_flag else ""):
            yield Static(Text(f"{TITLES[self.action_name]} {visible(self.flag, limit=100)}", style="bold"), id="action-title")
            if isinstance(self.plan, Transition):
                yield Static(Text.assemble(("will do: ", "dim"), literal(self.plan.description, "bold cyan")), id="action-what")
            else:
                yield Static(Text.assemble(("refused now: ", "bold red"), literal(self.plan.reason)), id="action-what")
            verdict = Text.assemble(("verdict now: ", "dim"), (f" {s.verdict.value} ", VERDICT_STYLE[s.verdict.value]))
            if s.reasons:
                verdict.append(literal("  " + "; ".join(s.reasons[:3])))
            yield Static(verdict, id="action-verdict")
            if self.blocked:
                yield Static("Nothing to do here. Esc closes.", classes="hint")
                with Horizontal(classes="buttons"):
                    yield Button("Close", id="cancel", variant="primary")
                return
            if self.override:
                yield Static(Text(
                    "OVERRIDE: this goes ahead against the rule above and is recorded as an override.",
                    style="bold yellow"), classes="hint")
            yield Input(placeholder="reason (required; recorded in the audit trail)", id="reason")
            if self.needs_typed_flag:
                yield Input(placeholder=f"type {self.flag} to confirm", id="confirm")
            yield Static("", id="action-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                label = "Override and advance" if self.override else TITLES[self.action_name]
                yield Button(label, id="go", variant="error" if self.needs_typed_flag else "primary")

    def on_mount(self) -> None:
        # Focus on typing a reason: a stray Enter there only asks for the reason.
        target = "#cancel" if self.blocked else "#reason"
        self.query_one(target).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
        elif event.button.id == "go":
            self._submit()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "reason" and self.needs_typed_flag:
            self.query_one("#confirm").focus()
        else:
            self._submit()

    def _submit(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        error = self.query_one("#action-error", Static)
        if not reason:
            error.update(Text("a reason is required", style="bold red"))
            self.query_one("#reason").focus()
            return
        if self.needs_typed_flag and self.query_one("#confirm", Input).value.strip() != self.flag:
            error.update(Text(f"type the flag name ({visible(self.flag, limit=100)}) exactly to confirm", style="bold red"))
            self.query_one("#confirm").focus()
            return
        self.dismiss(ActionRequest(action=self.action_name, reason=reason, override=self.override,
                                   seen_version=self.snap.rollout.version if self.snap.rollout else 0,
                                   seen_verdict=self.snap.verdict))
