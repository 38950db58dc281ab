"""The burn-in: countdowns to its end and to the review, and the clean-day streak."""
from __future__ import annotations

from datetime import timedelta

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from checks.durations import duration_text
from checks.models import BurnInView

from .ticker import Ticker


def countdown(td: timedelta) -> str:
    """`2d 03h 14m 05s` to go (every unit kept, so the text keeps its width as it
    ticks); a deadline gone by reads `passed 3h 02m 00s ago`."""
    text = duration_text(abs(td), units=4, fixed=True)
    return f"passed {text} ago" if td < timedelta(0) else text


class BurnInPanel(Static):
    DEFAULT_CSS = """
    BurnInPanel { height: auto; }
    """
    view: reactive[BurnInView | None] = reactive(None)

    def __init__(self, clock, **kw):
        super().__init__(**kw)
        self._clock = clock  # injected: the demo and the tests can replace it
        self.ticker = Ticker(self.refresh)

    def on_mount(self) -> None:
        self.set_interval(1.0, self.ticker.on_timer)

    def watch_view(self, view: BurnInView | None) -> None:
        self.refresh(layout=True)  # one line while loading, three after: re-measure

    def render(self) -> Text:
        v = self.view
        if v is None:
            return Text("burn-in not loaded yet", style="dim")
        now = self._clock()
        fmt = "%a %H:%MZ"
        out = Text()
        if now < v.start:
            out.append("starts in  ", style="dim").append(countdown(v.start - now), style="bold")
        elif now < v.end:
            out.append("ends in    ", style="dim").append(countdown(v.end - now), style="bold cyan")
        else:
            out.append("ended      ", style="dim").append(countdown(v.end - now), style="bold")
        out.append(f"  {v.end.strftime(fmt)}\n", style="dim")
        out.append("review in  ", style="dim").append(countdown(v.review - now), style="bold magenta")
        out.append(f"  {v.review.strftime(fmt)}\n", style="dim")
        style = "bold green" if v.clean_days >= v.days else "bold yellow" if v.clean_days else "bold red"
        out.append("clean days ", style="dim").append(f"{v.clean_days} of {v.days}", style=style)
        out.append(" in a row (GO needs all)", style="dim")
        return out
