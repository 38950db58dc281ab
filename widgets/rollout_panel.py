"""The rollout: the step ladder, the current step, its state and the soak left."""
from __future__ import annotations


from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import ProgressBar, Static

from checks.durations import duration_text
from checks.models import AutoRollbackView, RolloutView

from .literal import literal, visible
from .ticker import Ticker

STATE_STYLE = {"idle": "cyan", "soaking": "bold green", "held": "bold yellow",
               "rolled_back": "bold red", "complete": "bold green"}


def ladder(steps, current: int) -> Text:
    out = Text()
    for i, s in enumerate(steps):
        if i:
            out.append(" → ", style="dim")
        if s == current:
            out.append(f"[{s}]", style="bold black on cyan")  # a Text: the brackets stay brackets
        elif s < current:
            out.append(f"{s}", style="green")
        else:
            out.append(f"{s}", style="dim")
    out.append(" %", style="dim")
    return out


def auto_rollback_line(a: AutoRollbackView | None) -> Text:
    """`auto-rollback armed: error_rate, p95_latency red 5m × 3`, or while a watched
    gate is red, how far it is from firing."""
    if a is None:
        return Text("")
    if not a.enabled:
        return Text("auto-rollback off", style="dim")
    if not a.breaching:
        return Text.assemble(("auto-rollback armed: ", "dim"),
                             f"{visible(', '.join(a.gates), limit=200)} red {duration_text(a.sustain_seconds)} × {a.consecutive}")
    out = Text("auto-rollback: ", style="bold red")
    parts = [f"{visible(b.gate, limit=60)} red {duration_text(b.seconds)} of {duration_text(a.sustain_seconds)},"
             f" {b.evaluations} evals (min {a.consecutive})" for b in a.breaching]
    out.append("; ".join(parts), style="bold red")
    return out


class RolloutPanel(Vertical):
    DEFAULT_CSS = """
    RolloutPanel { height: auto; }
    RolloutPanel > #ladder { height: auto; }
    RolloutPanel > #state { height: auto; }
    RolloutPanel > ProgressBar { height: 1; }
    RolloutPanel > #auto { height: auto; }
    """
    view: reactive[RolloutView | None] = reactive(None)
    auto: reactive[AutoRollbackView | None] = reactive(None)

    def __init__(self, clock, **kw):
        super().__init__(**kw)
        self._clock = clock
        self._state_text: Text | None = None
        self._ladder_key: tuple | None = None
        self.ticker = Ticker(self._tick)

    def compose(self) -> ComposeResult:
        yield Static("rollout state not loaded yet", id="ladder")
        yield Static("", id="state")
        yield ProgressBar(total=100, show_eta=False, id="soak")
        yield Static("", id="auto")

    def on_mount(self) -> None:
        self.set_interval(1.0, self.ticker.on_timer)

    def watch_view(self, view: RolloutView | None) -> None:
        if view is None:
            return
        key = (view.steps, view.percentage)
        if key != self._ladder_key:  # the view's clock fields change every second; the ladder rarely
            self._ladder_key = key
            self.query_one("#ladder", Static).update(ladder(view.steps, view.percentage))
        self.ticker.tick()

    def watch_auto(self, auto: AutoRollbackView | None) -> None:
        self.query_one("#auto", Static).update(auto_rollback_line(auto))

    def _tick(self) -> None:
        v = self.view
        if v is None:
            return
        left = v.soak_left_at(self._clock())
        state = Text.assemble((v.state.replace("_", " "), STATE_STYLE.get(v.state, "")))
        if v.state in ("soaking", "held"):
            state.append(f"  soak {duration_text(left)} left of {duration_text(v.soak_seconds)}")
            if v.state == "held":
                state.append("  paused", style="yellow")
        if v.actuation == "failed":
            state.append("\nNOT APPLIED to the system: ", style="bold white on red")
            state.append(" ")
            state.append(literal(v.actuation_error, style="bold red", limit=300))
            state.append(" · R retries", style="bold red")
        elif v.actuation == "pending":
            state.append("\napplying to the system…", style="yellow")
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
