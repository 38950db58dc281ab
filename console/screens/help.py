"""`?`: every key, from the same bindings that feed the footer and the palette."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="close_help")]

    def __init__(self, bindings: list[tuple[str, str]]):
        super().__init__()
        self._rows = bindings

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("gonogo keys\n\n", style="bold")
        for key, desc in self._rows:
            text.append(f"{key:>12}  ", style="bold cyan").append(f"{desc}\n")
        text.append("\nEsc closes this help. The command palette (ctrl+p) lists the same actions.", style="dim")
        with VerticalScroll(id="help-box"):
            yield Static(text)
