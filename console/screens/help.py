"""`?`: every key, from the same bindings that feed the footer and the palette
(`GonogoApp.key_list`): each key once, what it does, and for a key that does
nothing now (Advance while it would be refused), why."""
from __future__ import annotations

import textwrap

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from widgets.literal import literal

KEY = 10  # the keys' column
WRAP = 68  # the descriptions' width: the box (88) less its border, padding and the keys


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="close_help")]

    def __init__(self, keys: list[tuple[str, str, str]]):
        """`keys`: (key, what it does, why it does nothing now or "")."""
        super().__init__()
        self._rows = keys

    def compose(self) -> ComposeResult:
        # One Text, each description wrapped under itself (not under the keys).
        text = Text()
        text.append("gonogo keys\n\n", style="bold")
        for key, desc, why in self._rows:
            lines = textwrap.wrap(desc, WRAP) or [""]
            for i, line in enumerate(lines):
                text.append(f"{key if i == 0 else '':>{KEY}}  ", style="bold cyan").append(line + "\n")
            if why:
                # The reason may quote outside text (a gate's name in the verdict's why).
                text.append(" " * (KEY + 2)).append(literal(why, style="italic", limit=WRAP)).append("\n")
        text.append("\nEsc closes this help. The command palette (ctrl+p) lists the same actions.", style="dim")
        with VerticalScroll(id="help-box"):
            yield Static(text)

    def text(self) -> str:
        """The help as plain text (tests, and anyone reading it without a screen)."""
        return "\n".join(f"{key}  {desc}" + (f"  ({why})" if why else "") for key, desc, why in self._rows)
