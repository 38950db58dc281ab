"""The verdict, large, and beside it two statements kept apart: what the gates say
(GO, HOLD, ROLLBACK recommended) and what the rollout is (advance allowed, or why
not: soak left, held, rolled back). Below them, one line per loud event (an
auto-rollback, a rollout not applied, a critical alert) until someone acknowledges
it, the same on every console (the snapshot's `stance` and `notice_lines`, decided
by checks.notices).

Colours are the theme's ($success, $warning, $error, through component classes);
each is beside a word or a symbol, so NO_COLOR or a light theme still reads."""
from __future__ import annotations

from datetime import timezone, tzinfo

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Static

from checks.durations import duration_text
from checks.models import Snapshot, Stance, Verdict
from checks.times import time_text

from .literal import visible

WORD_CLASS = {Verdict.GO: "GO", Verdict.HOLD: "HOLD", Verdict.ROLLBACK: "ROLLBACK"}
GATES_SYMBOL = {Verdict.GO: "●", Verdict.HOLD: "▲", Verdict.ROLLBACK: "✖"}
GATES_STYLE = {Verdict.GO: "verdict-banner--go", Verdict.HOLD: "verdict-banner--hold",
               Verdict.ROLLBACK: "verdict-banner--rollback"}


class VerdictBanner(Vertical):
    COMPONENT_CLASSES = {"verdict-banner--go", "verdict-banner--hold", "verdict-banner--rollback",
                         "verdict-banner--alarm", "verdict-banner--warn", "verdict-banner--muted",
                         "verdict-banner--label", "verdict-banner--badge"}
    DEFAULT_CSS = """
    VerdictBanner { height: auto; }
    VerdictBanner > #verdict-row { height: auto; }
    VerdictBanner #verdict-word {
        width: 14; height: 3; content-align: center middle; text-style: bold;
        background: $panel; color: $text;
    }
    VerdictBanner #verdict-word.GO { background: $success; color: $text; }
    VerdictBanner #verdict-word.HOLD { background: $warning; color: $text; }
    VerdictBanner #verdict-word.ROLLBACK { background: $error; color: $text; }
    VerdictBanner #verdict-word.STALE { background: $warning-muted; color: $text; }
    VerdictBanner #verdict-lines { width: 1fr; height: auto; min-height: 3; padding: 0 1; }
    VerdictBanner #verdict-info { height: 1; }
    VerdictBanner #verdict-clock { width: auto; }
    VerdictBanner #verdict-about, VerdictBanner #verdict-text {
        width: 1fr; height: auto; text-wrap: nowrap; text-overflow: ellipsis;
    }
    VerdictBanner > #notices {
        height: auto; padding: 0 1; background: $error-muted; color: $text; text-style: bold;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    VerdictBanner > .verdict-banner--go { color: $text-success; text-style: bold; }
    VerdictBanner > .verdict-banner--hold { color: $text-warning; text-style: bold; }
    VerdictBanner > .verdict-banner--rollback { color: $text-error; text-style: bold; }
    VerdictBanner > .verdict-banner--alarm { color: $text; background: $error; text-style: bold; }
    VerdictBanner > .verdict-banner--warn { color: $text-warning; }
    VerdictBanner > .verdict-banner--muted { color: $foreground-muted; }
    VerdictBanner > .verdict-banner--label { color: $foreground-muted; text-style: bold; }
    VerdictBanner > .verdict-banner--badge { color: $text; background: $accent-muted; text-style: bold; }
    """
    # repaint=False: the banner itself draws nothing; a repaint of it would redraw
    # every line it covers each second. Its Statics are updated when their text changes.
    snapshot: reactive[Snapshot | None] = reactive(None, repaint=False)
    starting: reactive[str] = reactive("connecting to the database…", repaint=False)
    read_only: reactive[bool] = reactive(False, repaint=False)
    stale_for: reactive[float] = reactive(0.0, repaint=False)  # no new evaluation for this long (0: fresh)
    zone: reactive[tzinfo] = reactive(timezone.utc, repaint=False)  # every time is written in it: the configured zone, or UTC

    def compose(self) -> ComposeResult:
        with Horizontal(id="verdict-row"):
            yield Static("…", id="verdict-word")
            with Vertical(id="verdict-lines"):
                # The evaluation's time changes every second: a Static of its own, so that
                # what repaints each second is those few cells, not the banner's lines.
                with Horizontal(id="verdict-info"):
                    yield Static("", id="verdict-clock")
                    yield Static("", id="verdict-about")
                yield Static("", id="verdict-text")
        yield Static("", id="notices")

    def on_mount(self) -> None:
        self.query_one("#notices").display = False
        # The colours are baked into the texts: a new theme redraws them.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._restyle())

    def watch_snapshot(self) -> None:
        self._show()

    def watch_starting(self) -> None:
        self._show()

    def watch_read_only(self) -> None:
        self._show()

    def watch_zone(self) -> None:
        self._show()

    def watch_stale_for(self) -> None:
        self._show()

    def render_text(self) -> Text:
        """The banner as plain text (what a test or a screen reader reads): the verdict
        word first, then the lines beside it, then the loud lines."""
        def plain(wid: str) -> str:
            shown = self.query_one(wid, Static).render()
            return getattr(shown, "plain", str(shown))

        parts = [plain("#verdict-word"), plain("#verdict-clock") + plain("#verdict-about"), plain("#verdict-text")]
        if self.query_one("#notices").display:
            parts.append(plain("#notices"))
        return Text("\n".join(parts))

    def _style(self, name: str):
        return self.get_component_rich_style(name, partial=True)

    def _restyle(self) -> None:
        for wid in ("#verdict-word", "#verdict-clock", "#verdict-about", "#verdict-text", "#notices"):
            self.query_one(wid, Static)._shown = None  # type: ignore[attr-defined]
        self._show()

    def _show(self) -> None:
        if not self.is_mounted:
            return
        word = self.query_one("#verdict-word", Static)
        text = self.query_one("#verdict-text", Static)
        s = self.snapshot
        if s is None:
            self._set(word, "…", "")
            self._info(None)
            self._set(text, Text(visible(self.starting, limit=300), style="italic"))
            self._notices(())
            return
        stance = s.stance_in(self.zone)
        if self.stale_for:
            # The engine stopped producing evaluations: the last verdict is not a verdict.
            self._set(word, "STALE", "STALE")
        else:
            # The word, and under it whether it is a recommendation: "ROLLBACK" alone
            # reads as done; the rollout's line says what was done.
            self._set(word, Text(s.verdict.value + (f"\n{stance.note}" if stance.note else ""), justify="center"),
                      WORD_CLASS[s.verdict])
        self._info(s)
        lines = [self._gates(stance)]
        status = self._status(s)
        if status is not None:
            lines.append(status)  # stale or no database: actions are refused, whatever the rollout says
        else:
            lines.append(self._rollout(stance))
            bad = [src for src in s.sources if not src.ok]
            if bad:
                lines.append(Text("  ".join(f"{visible(b.name, limit=60)}: {visible(b.reason, limit=200)}"
                                            for b in bad), style=self._style("verdict-banner--warn")))
        block = Text("\n").join(lines)
        block.no_wrap = True  # one line each, cut with an ellipsis
        block.overflow = "ellipsis"
        self._set(text, block)
        self._notices(s.notice_lines_in(self.zone))

    def _info(self, s: Snapshot | None) -> None:
        """The first line: the evaluation's time first (at 80 columns it is what must
        not be cut), then the flag, its step, who leads."""
        clock = self.query_one("#verdict-clock", Static)
        about = self.query_one("#verdict-about", Static)
        if s is None:
            self._set(clock, Text(""), layout=True)
            clock._width = 0  # type: ignore[attr-defined]
            self._set(about, Text(""))
            return
        muted = self._style("verdict-banner--muted")
        time = Text(f"evaluated {time_text(s.at, self.zone)}", style=muted)
        # Its width changes with the zone's name alone: only then is a layout pass needed.
        self._set(clock, time, layout=time.cell_len != getattr(clock, "_width", None))
        clock._width = time.cell_len  # type: ignore[attr-defined]
        info = Text()
        if s.rollout is not None:
            info.append("  ·  ", style=muted)
            info.append(visible(s.rollout.flag, limit=100), style="bold")
            info.append(f" at {s.rollout.percentage} % · {s.rollout.state.replace('_', ' ')}")
        if s.leader:
            # Through an outage the leader stays leader: it probes and keeps the results
            # (the status line says why the database is away: restarting, ...).
            info.append("  ·  leader", style=muted)
        else:
            # Who probes is only known while the database answers.
            info.append("  ·  follower (another process probes)" if s.database.ok else "  ·  follower", style=muted)
        if self.read_only:
            info.append("  ")
            info.append(" READ-ONLY ", style=self._style("verdict-banner--badge"))
        info.no_wrap = True
        info.overflow = "ellipsis"
        self._set(about, info)

    def _gates(self, stance: Stance) -> Text:
        line = Text("gates    ", style=self._style("verdict-banner--label"))
        line.append(f"{GATES_SYMBOL[stance.verdict]} ", style=self._style(GATES_STYLE[stance.verdict]))
        line.append(visible(stance.gates, limit=400), style=self._style(GATES_STYLE[stance.verdict]))
        return line

    def _rollout(self, stance: Stance) -> Text:
        line = Text("rollout  ", style=self._style("verdict-banner--label"))
        if stance.advance_allowed:
            symbol, style = "▶", "verdict-banner--go"
        elif stance.rolled_back:
            symbol, style = "✖", "verdict-banner--rollback"
        else:
            symbol, style = "■", "verdict-banner--hold"
        line.append(f"{symbol} {visible(stance.rollout, limit=400)}", style=self._style(style))
        return line

    def _status(self, s: Snapshot) -> Text | None:
        alarm = self._style("verdict-banner--alarm")
        rollback = self._style("verdict-banner--rollback")
        if self.stale_for:
            return Text.assemble((f" NO EVALUATION FOR {duration_text(self.stale_for)}: STALE ", alarm),
                                 (f" last verdict {s.verdict.value} is not current; actions are refused", rollback))
        if not s.database.ok:
            return Text.assemble((" DATABASE UNAVAILABLE: STALE ", alarm),
                                 (f" {visible(s.database.reason, limit=300)} · last known values shown, retrying",
                                  rollback))
        return None

    def _notices(self, lines: tuple[str, ...]) -> None:
        box = self.query_one("#notices", Static)
        if not lines:
            box.display = False
            return
        shown = Text("\n").join(Text(f"⚠ {visible(line, limit=400)}") for line in lines)
        shown.no_wrap = True
        shown.overflow = "ellipsis"
        self._set(box, shown, layout=not box.display or len(lines) != getattr(box, "_lines", 0))
        box._lines = len(lines)  # type: ignore[attr-defined]
        box.display = True

    def _set(self, widget: Static, content, classes: str | None = None, *, layout: bool | None = None) -> None:
        # A snapshot arrives every second: an unchanged line is skipped, and a change
        # that keeps the line count needs no layout pass.
        if getattr(widget, "_shown", None) != content:
            lines = content.plain.count("\n") if isinstance(content, Text) else str(content).count("\n")
            grew = lines != getattr(widget, "_line_count", None)
            widget._shown = content  # type: ignore[attr-defined]
            widget._line_count = lines  # type: ignore[attr-defined]
            widget.update(content, layout=grew if layout is None else layout)
        if classes is not None and not widget.has_class(classes or "-none-"):
            widget.set_classes(classes)
