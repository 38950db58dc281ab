"""The burn-in: countdowns to its end and to the review, and the clean-day streak.

The countdowns tick at 1 Hz, but the panel repaints only when its text changes: a
deadline more than an hour away is shown to the minute (`5h 21m`), so it repaints
once a minute, and to the second only in its last hour, when seconds matter."""
from __future__ import annotations

from datetime import timedelta, timezone, tzinfo

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from checks.durations import duration_text
from checks.models import BurnInView
from checks.times import time_text

from .format import BAND_CLASSES, band_css
from .ticker import Ticker


def countdown(td: timedelta) -> str:
    """`2d 03h 14m` to go, or within the hour `42m 05s` (every unit kept, so the
    text keeps its width as it ticks); a deadline gone by reads `passed 3h 02m ago`.
    Cut down, never rounded up: `5h 21m` is at least 5 h 21 min away."""
    left = abs(td)
    # The units down to the minute (`1d 05h 07m`, `5h 07m`), or to the second within the hour.
    units = 3 if left >= timedelta(days=1) else 2 if left >= timedelta(hours=1) else 4
    text = duration_text(left, units=units, fixed=True)
    return f"passed {text} ago" if td < timedelta(0) else text


class BurnInPanel(Static):
    COMPONENT_CLASSES = BAND_CLASSES | {"burn-in--ends", "burn-in--review", "burn-in--value"}
    DEFAULT_CSS = """
    BurnInPanel { height: auto; }
    BurnInPanel > .burn-in--ends { color: $text-accent; text-style: bold; }
    BurnInPanel > .burn-in--review { color: $text-primary; text-style: bold; }
    BurnInPanel > .burn-in--value { text-style: bold; }
    """ + band_css("BurnInPanel")
    # repaint=False: the panel repaints from _tick, when its text changed.
    view: reactive[BurnInView | None] = reactive(None, repaint=False)
    zone: reactive[tzinfo] = reactive(timezone.utc, repaint=False)  # the screen's: the configured zone, or UTC

    def __init__(self, clock, **kw):
        super().__init__(**kw)
        self._clock = clock  # injected: the demo and the tests can replace it
        self._text: Text | None = None  # what is on screen
        self.ticker = Ticker(self._tick)

    def on_mount(self) -> None:
        self.set_interval(1.0, self.ticker.on_timer)
        # The colours are baked into the text: a new theme builds it again.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._rebuild())

    def on_resize(self) -> None:
        self._rebuild()  # a narrow panel drops the dates

    def watch_view(self) -> None:
        self._tick()

    def watch_zone(self) -> None:
        self._tick()

    def _rebuild(self) -> None:
        self._text = None
        self._tick()

    def _tick(self) -> None:
        """Build the text for this second; repaint only if it is not what is shown
        (and lay out again only if its number of lines changed)."""
        if not self.is_mounted:
            return
        text = self._build()
        if text == self._text:
            return
        lines = None if self._text is None else self._text.plain.count("\n")
        self._text = text
        self.refresh(layout=lines != text.plain.count("\n"))

    def render(self) -> Text:
        return self._text if self._text is not None else self._build()

    def _build(self) -> Text:
        v = self.view
        if v is None:
            return Text("burn-in not loaded yet", style=self.get_component_rich_style("band--muted", partial=True))
        now = self._clock()
        style = lambda name: self.get_component_rich_style(name, partial=True)  # noqa: E731 (the theme's)
        dim, width = style("band--muted"), self.content_size.width

        def when(at) -> str:
            return time_text(at, self.zone, weekday=True, seconds=False)  # `Thu 07:00 CET`

        def line(label: str, value: str, value_style, at: str, tail: str = "") -> Text:
            # A narrow panel keeps the countdown and drops the date after it, not the reverse.
            out = Text(label, style=dim).append(value, style=value_style)
            extra = f"  {at}" if at else tail
            if not width or out.cell_len + len(extra) <= width:
                out.append(extra, style=dim)
            return out

        if now < v.start:
            first = line("starts in  ", countdown(v.start - now), style("burn-in--value"), when(v.start))
        elif now < v.end:
            first = line("ends in    ", countdown(v.end - now), style("burn-in--ends"), when(v.end))
        else:
            first = line("ended      ", countdown(v.end - now), style("burn-in--value"), when(v.end))
        review = line("review in  ", countdown(v.review - now), style("burn-in--review"), when(v.review))
        band = "band--green" if v.clean_days >= v.days else "band--yellow" if v.clean_days else "band--red"
        clean = line("clean days ", f"{v.clean_days} of {v.days}", style(band), "", " in a row (GO needs all)")
        return Text("\n").join([first, review, clean])
