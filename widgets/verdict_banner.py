"""The verdict, large and coloured, and why; above it what is being watched."""
from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from checks.models import Snapshot

from .format import VERDICT_STYLE

_W = len("ROLLBACK") + 6


class VerdictBanner(Static):
    DEFAULT_CSS = """
    VerdictBanner { height: 3; padding: 0 1 0 0; }
    """
    snapshot: reactive[Snapshot | None] = reactive(None)
    starting: reactive[str] = reactive("connecting to the database…")
    read_only: reactive[bool] = reactive(False)

    def render(self) -> Text:
        s = self.snapshot
        width = max(30, self.size.width - 1)
        if s is None:
            block = ("…".center(_W), "bold black on grey50")
            lines = [
                Text.assemble((" " * _W, "on grey50")),
                Text.assemble(block, "  ", (self.starting, "italic")),
                Text.assemble((" " * _W, "on grey50")),
            ]
            return Text("\n").join(lines)
        word = s.verdict.value
        style = VERDICT_STYLE[word]
        info = []
        if s.rollout is not None:
            info.append((f"{s.rollout.flag}", "bold"))
            info.append((f" at {s.rollout.percentage} % · {s.rollout.state.replace('_', ' ')}", ""))
        info.append(("  ·  leader" if s.leader else "  ·  follower", "dim"))
        if self.read_only:
            info.append(("  READ-ONLY ", "bold black on cyan"))
        why = "all gates green: advance allowed" if not s.reasons else "  ·  ".join(s.reasons)
        status: list = []
        if not s.database.ok:
            status.append((" DATABASE UNAVAILABLE: STALE ", "bold white on red"))
            status.append((f" {s.database.reason} · showing last known values, retrying", "red"))
        else:
            bad = [src for src in s.sources if not src.ok]
            if bad:
                status.append(("  ".join(f"{b.name}: {b.reason}" for b in bad), "yellow"))
        lines = [
            Text.assemble((" " * _W, style), "  ", *info),
            Text.assemble((word.center(_W), style), "  ", (why, "bold" if s.reasons else "green")),
            Text.assemble((" " * _W, style), "  ", *status),
        ]
        for line in lines:
            line.truncate(width, overflow="ellipsis")
        return Text("\n").join(lines)
