"""The verdict, large and coloured, and why; beside it what is being watched."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Static

from checks.durations import duration_text
from checks.models import Snapshot

from .literal import visible


class VerdictBanner(Horizontal):
    DEFAULT_CSS = """
    VerdictBanner { height: 3; }
    VerdictBanner > #verdict-word {
        width: 14; height: 3; content-align: center middle; text-style: bold;
        background: $panel; color: $text;
    }
    VerdictBanner > #verdict-word.GO { background: darkgreen; color: white; }
    VerdictBanner > #verdict-word.HOLD { background: gold; color: black; }
    VerdictBanner > #verdict-word.ROLLBACK { background: red; color: white; }
    VerdictBanner > #verdict-text { width: 1fr; height: 3; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """
    snapshot: reactive[Snapshot | None] = reactive(None)
    starting: reactive[str] = reactive("connecting to the database…")
    read_only: reactive[bool] = reactive(False)
    stale_for: reactive[float] = reactive(0.0)  # no new evaluation for this long (0: fresh)

    def compose(self) -> ComposeResult:
        yield Static("…", id="verdict-word")
        yield Static("", id="verdict-text")

    def watch_snapshot(self) -> None:
        self._show()

    def watch_starting(self) -> None:
        self._show()

    def watch_read_only(self) -> None:
        self._show()

    def watch_stale_for(self) -> None:
        self._show()

    def render_text(self) -> Text:
        """The banner as plain text (what a test or a screen reader reads)."""
        word = self.query_one("#verdict-word", Static).render()
        text = self.query_one("#verdict-text", Static).render()
        return Text(f"{getattr(word, 'plain', word)}\n{getattr(text, 'plain', text)}")

    def _show(self) -> None:
        if not self.is_mounted:
            return
        word = self.query_one("#verdict-word", Static)
        text = self.query_one("#verdict-text", Static)
        s = self.snapshot
        if s is None:
            self._set(word, "…", "")
            self._set(text, Text.assemble("\n", (visible(self.starting, limit=300), "italic")))
            return
        if self.stale_for:
            # The engine stopped producing evaluations: the last verdict is not a verdict.
            self._set(word, "STALE", "")
        else:
            self._set(word, s.verdict.value, s.verdict.value)
        info = Text()
        if s.rollout is not None:
            info.append(visible(s.rollout.flag, limit=100), style="bold")
            info.append(f" at {s.rollout.percentage} % · {s.rollout.state.replace('_', ' ')}")
        if s.leader:
            # Through an outage the leader stays leader: it probes and keeps the results
            # (the status line below says why the database is away: restarting, ...).
            info.append("  ·  leader", style="dim")
        else:
            # Who probes is only known while the database answers.
            info.append("  ·  follower (another process probes)" if s.database.ok else "  ·  follower", style="dim")
        info.append(f"  ·  evaluated {s.at.astimezone():%H:%M:%S}", style="dim")
        if self.read_only:
            info.append("  ")
            info.append(" READ-ONLY ", style="bold black on cyan")
        why = Text("  ·  ".join(visible(r, limit=200) for r in s.reasons), style="bold") if s.reasons else Text(
            "all gates green: advance allowed", style="green")
        status = Text()
        if self.stale_for:
            status.append(f" NO EVALUATION FOR {duration_text(self.stale_for)}: STALE ", style="bold white on red")
            status.append(" last verdict " + s.verdict.value + " is not current; actions are refused", style="red")
        elif not s.database.ok:
            status.append(" DATABASE UNAVAILABLE: STALE ", style="bold white on red")
            status.append(f" {visible(s.database.reason, limit=300)} · last known values shown, retrying", style="red")
        else:
            bad = [src for src in s.sources if not src.ok]
            if bad:
                status.append("  ".join(f"{visible(b.name, limit=60)}: {visible(b.reason, limit=200)}" for b in bad),
                              style="yellow")
        lines = Text("\n").join([info, why, status])
        lines.no_wrap = True  # one line each, cut with an ellipsis: the banner never grows
        lines.overflow = "ellipsis"
        self._set(text, lines)

    @staticmethod
    def _set(widget: Static, content, classes: str | None = None) -> None:
        # A snapshot arrives every second. The banner's size is fixed, so an update
        # needs no layout pass, and an unchanged one is skipped.
        if getattr(widget, "_shown", None) != content:
            widget._shown = content
            widget.update(content, layout=False)
        if classes is not None and not widget.has_class(classes or "-none-"):
            widget.set_classes(classes)
