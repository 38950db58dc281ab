"""The rollout: the step ladder, the current step, its state (since when, in the
screen's zone) and the soak left."""
from __future__ import annotations

from datetime import timezone, tzinfo

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Mount
from textual.reactive import reactive
from textual.widgets import ProgressBar, Static

from checks.durations import duration_text
from checks.models import AutoRollbackView, RolloutView
from checks.times import time_text

from .format import BAND_CLASSES, band_css
from .literal import literal, visible
from .ticker import Ticker

# Each state is said in words; its colour is the theme's, from these component classes.
STATE_CLASS = {"idle": "rollout--idle", "soaking": "band--green", "held": "band--yellow",
               "rolled_back": "band--red", "complete": "band--green"}
ROLLOUT_CSS = """
    RolloutPanel > .rollout--idle { color: $text-accent; }
    RolloutPanel > .rollout--current { color: $text-primary; text-style: bold reverse; }
    RolloutPanel > .rollout--alarm { color: $text; background: $error-muted; text-style: bold; }
"""


def _plain(name: str):
    return ""  # no theme to read (a test, the CLI): plain text


def ladder(steps, current: int, style=_plain) -> Text:
    """`0 → 5 → [10] → 25 … %`: the steps done, the current one (bracketed, so it reads
    without colour) and the steps to come. `style(component_class)` gives the colours."""
    out = Text()
    for i, s in enumerate(steps):
        if i:
            out.append(" → ", style=style("band--muted"))
        if s == current:
            out.append(f"[{s}]", style=style("rollout--current"))  # a Text: the brackets stay brackets
        elif s < current:
            out.append(f"{s}", style=style("band--green"))
        else:
            out.append(f"{s}", style=style("band--muted"))
    out.append(" %", style=style("band--muted"))
    return out


def auto_rollback_line(a: AutoRollbackView | None, style=_plain) -> Text:
    """`auto-rollback armed: error_rate, p95_latency red 5m × 3`, or while a watched
    gate is red, how far it is from firing."""
    if a is None:
        return Text("")
    if not a.enabled:
        return Text("auto-rollback off", style=style("band--muted"))
    if not a.breaching:
        return Text.assemble(("auto-rollback armed: ", style("band--muted")),
                             f"{visible(', '.join(a.gates), limit=200)} red {duration_text(a.sustain_seconds)} × {a.consecutive}")
    out = Text("✖ auto-rollback: ", style=style("band--red"))
    parts = [f"{visible(b.gate, limit=60)} red {duration_text(b.seconds)} of {duration_text(a.sustain_seconds)},"
             f" {b.evaluations} evals (min {a.consecutive})" for b in a.breaching]
    out.append("; ".join(parts), style=style("band--red"))
    return out


# The percentage's column (`100%`, right-aligned) and the least bar worth drawing
# beside it: narrower than both, the percentage goes, whole.
PERCENT_WIDTH = 5
MIN_BAR = 4


class SoakBar(ProgressBar):
    """The soak's progress bar without Textual's 1 Hz ETA timer: no ETA is shown, and
    the timer repainted the bar every second, half a second off the snapshot's
    repaint (two screen updates a second instead of one). It moves when the panel
    sets its progress.

    Textual's bar is 32 columns whatever its room, and its percentage comes after: in a
    panel narrower than 37 the terminal cut the percentage's last column, its `%`, and
    `73` was left. Here the bar takes what the percentage leaves, and the percentage is
    dropped whole where even that does not fit."""

    DEFAULT_CSS = """
    SoakBar { width: 1fr; }
    SoakBar > Bar { width: 1fr; }
    """

    def on_mount(self, event: Mount) -> None:
        event.prevent_default()  # ProgressBar.on_mount would start the timer
        self.update()

    def on_resize(self) -> None:
        for percent in self.query("#percentage"):  # ProgressBar's own id for it
            percent.display = self.size.width >= PERCENT_WIDTH + MIN_BAR


class RolloutPanel(Vertical):
    COMPONENT_CLASSES = BAND_CLASSES | {"rollout--idle", "rollout--current", "rollout--alarm"}
    DEFAULT_CSS = band_css("RolloutPanel") + ROLLOUT_CSS + """
    RolloutPanel { height: auto; }
    RolloutPanel > #ladder { height: auto; }
    RolloutPanel > #state { height: auto; }
    RolloutPanel > ProgressBar { height: 1; }
    RolloutPanel > #auto { height: auto; }
    """
    # repaint=False: the panel itself draws nothing; each line is a Static updated when its text changes.
    view: reactive[RolloutView | None] = reactive(None, repaint=False)
    auto: reactive[AutoRollbackView | None] = reactive(None, repaint=False)
    zone: reactive[tzinfo] = reactive(timezone.utc, repaint=False)  # the screen's: the configured zone, or UTC

    def __init__(self, clock, **kw):
        super().__init__(**kw)
        self._clock = clock
        self._state_text: Text | None = None
        self._ladder_key: tuple | None = None
        self.ticker = Ticker(self._tick)

    def compose(self) -> ComposeResult:
        yield Static("rollout state not loaded yet", id="ladder")
        yield Static("", id="state")
        yield SoakBar(total=100, show_eta=False, id="soak")
        yield Static("", id="auto")

    def on_mount(self) -> None:
        self.set_interval(1.0, self.ticker.on_timer)
        # The colours are baked into the texts: a new theme redraws them.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._restyle())

    def _style(self, name: str):
        return self.get_component_rich_style(name, partial=True)

    def _restyle(self) -> None:
        self._ladder_key = self._state_text = None
        self.query_one("#auto", Static)._shown = None  # type: ignore[attr-defined]
        self.watch_view(self.view)
        self.watch_auto(self.auto)

    def watch_view(self, view: RolloutView | None) -> None:
        if view is None:
            return
        key = (view.steps, view.percentage)
        if key != self._ladder_key:  # the view's clock fields change every second; the ladder rarely
            self._ladder_key = key
            self.query_one("#ladder", Static).update(ladder(view.steps, view.percentage, self._style))
        self.ticker.tick()

    def watch_zone(self) -> None:
        self._state_text = None
        self._tick()

    def watch_auto(self, auto: AutoRollbackView | None) -> None:
        line = auto_rollback_line(auto, self._style)
        box = self.query_one("#auto", Static)
        if line != getattr(box, "_shown", None):  # breaching seconds change; armed, it does not
            box._shown = line  # type: ignore[attr-defined]
            box.update(line)

    def _tick(self) -> None:
        v = self.view
        if v is None:
            return
        left = v.soak_left_at(self._clock())
        state = Text.assemble((v.state.replace("_", " "), self._style(STATE_CLASS.get(v.state, "band--muted"))))
        if v.stage_started_at is not None and v.state != "idle":
            # A hold does not move the stage's start: it says when the step began, not the hold.
            since = "step began" if v.state == "held" else "since"
            state.append(f" {since} {time_text(v.stage_started_at, self.zone, seconds=False)}",
                         style=self._style("band--muted"))
        if v.state in ("soaking", "held"):
            # Its own line: glued to the state word by spaces alone, a wrap or a copy read "soakingsoak".
            state.append(f"\nsoak {duration_text(left)} left of {duration_text(v.soak_seconds)}")
            if v.state == "held":
                state.append("  paused", style=self._style("band--yellow"))
        if v.actuation == "failed":
            state.append("\n✖ NOT APPLIED to the system: ", style=self._style("rollout--alarm"))
            state.append(" ")
            state.append(literal(v.actuation_error, style=self._style("band--red"), limit=300))
            state.append(" · R retries", style=self._style("band--red"))
        elif v.actuation == "pending":
            state.append("\napplying to the system…", style=self._style("band--yellow"))
        # Updating a Static re-lays the screen out: only when the text changed.
        if state != self._state_text:
            self._state_text = state
            self.query_one("#state", Static).update(state)
        done = 0 if v.soak_seconds == 0 else round(100 * (1 - left / v.soak_seconds), 1)
        bar = self.query_one("#soak", ProgressBar)
        shown = v.state in ("soaking", "held")
        if bar.display != shown:
            bar.display = shown
        if bar.progress != done:
            bar.update(progress=done)
