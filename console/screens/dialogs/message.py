"""A refused action: the dialog that says why, closed with Enter or Esc."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from widgets.literal import literal


class MessageDialog(ModalScreen[None]):
    CSS_PATH = "message.tcss"
    BINDINGS = [Binding("escape", "close", "Close", id="close_message")]

    def __init__(self, title: str, body: str):
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(id="message-box"):
            yield Static(literal(self.title_text, style="bold red", limit=200))
            # The body carries other people's words (reasons, names, an actuator's stderr).
            yield Static(literal(self.body, multiline=True, limit=4000), id="message-body")
            yield Button("OK", id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#ok").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
