"""The burn-in: countdowns to its end and to the review, and the clean-day streak."""
from __future__ import annotations

from datetime import timedelta

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from checks.durations import duration_text
from checks.models import BurnInView

from .format import BAND_CLASSES, band_css
from .ticker import Ticker


def countdown(td: timedelta) -> str:
    """`2d 03h 14m 05s` to go (every unit kept, so the text keeps its width as it
    ticks); a deadline gone by reads `passed 3h 02m 00s ago`."""
    text = duration_text(abs(td), units=4, fixed=True)
    return f"passed {text} ago" if td < timedelta(0) else text


class BurnInPanel(Static):
    COMPONENT_CLASSES = BAND_CLASSES | {"burn-in--ends", "burn-in--review", "burn-in--value"}
    DEFAULT_CSS = """
    BurnInPanel { height: auto; }
    BurnInPanel > .burn-in--ends { color: $text-accent; text-style: bold; }
    BurnInPanel > .burn-in--review { color: $text-primary; text-style: bold; }
    BurnInPanel > .burn-in--value { text-style: bold; }
    """ + band_css("BurnInPanel")
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
            return Text("burn-in not loaded yet", style=self.get_component_rich_style("band--muted", partial=True))
        now = self._clock()
        style = lambda name: self.get_component_rich_style(name, partial=True)  # noqa: E731 (the theme's)
        dim, width = style("band--muted"), self.content_size.width
        fmt = "%a %H:%MZ"

        def line(label: str, value: str, value_style, at: str, tail: str = "") -> Text:
            # A narrow panel keeps the countdown and drops the date after it, not the reverse.
            out = Text(label, style=dim).append(value, style=value_style)
            extra = f"  {at}" if at else tail
            if not width or out.cell_len + len(extra) <= width:
                out.append(extra, style=dim)
            return out

        if now < v.start:
            first = line("starts in  ", countdown(v.start - now), style("burn-in--value"), v.start.strftime(fmt))
        elif now < v.end:
            first = line("ends in    ", countdown(v.end - now), style("burn-in--ends"), v.end.strftime(fmt))
        else:
            first = line("ended      ", countdown(v.end - now), style("burn-in--value"), v.end.strftime(fmt))
        review = line("review in  ", countdown(v.review - now), style("burn-in--review"), v.review.strftime(fmt))
        band = "band--green" if v.clean_days >= v.days else "band--yellow" if v.clean_days else "band--red"
        clean = line("clean days ", f"{v.clean_days} of {v.days}", style(band), "", " in a row (GO needs all)")
        return Text("\n").join([first, review, clean])
