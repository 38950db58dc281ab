"""Enter on a gate: what it measured and how it is judged (value, bands and their
direction, window, coverage, the query or metric), and for a probe gate each
target's recent probe results with their errors, newest first.

The screen renders what it is given: the App pushes it with the gate's reading and
definition, reads the probe results in a worker of its own, and hands them over
(`show_probes`) or says why it could not (`failed`)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from checks.durations import duration_text
from checks.models import Bands, GateReading, ProbeResult
from checks.times import time_text
from widgets.format import band_label
from widgets.literal import literal, visible
from widgets.key_footer import KeyFooter

from .answered import AnsweredScreen


def clock(at: datetime | None, zone: tzinfo) -> str:
    return "—" if at is None else time_text(at, zone, date=True)


def bands_text(bands: Bands | None) -> str:
    """`green < 0.1 · yellow between · red > 1 (lower is better)`."""
    if bands is None:
        return "none: the gate is judged by its source alone"
    better = "lower" if bands.green.lower_is_better else "higher"
    return f"green {bands.green} · yellow between · red {bands.red} ({better} is better)"


class GateDetailScreen(AnsweredScreen):
    CSS_PATH = "gate_detail.tcss"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back", tooltip="Close the gate's detail", id="close_detail")]

    def __init__(self, gate: GateReading, *, definition: Sequence[tuple[str, str]] = (),
                 targets: Sequence[str] = (), per_target: int = 5):
        """`definition`: (label, text) rows from the config, e.g. ("metric", "error_rate")
        or ("query", "select ..."); `targets`: the targets whose probes it reads (none
        for a PromQL or SQL gate)."""
        super().__init__()
        self.gate = gate
        self.definition = tuple(definition)
        self.targets = tuple(targets)
        self.per_target = per_target
        self._probes: Mapping[str, Sequence[ProbeResult]] | None = None

    def on_mount(self) -> None:
        super().on_mount()
        # `z` flips every time on screen between the configured zone and UTC, here too.
        self.watch(self.app, "zone", self._rezone, init=False)

    def _rezone(self, _zone: tzinfo) -> None:
        self.query_one("#gate-detail-summary", Static).update(self._summary())
        if self._probes is not None:
            self._show_probes(self._probes)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="gate-detail-box"):
            yield Static(self._summary(), id="gate-detail-summary")
            if self.targets:
                yield Static(Text("reading the recent probes…", style="dim italic"), id="gate-detail-probes")
        yield KeyFooter()

    def _summary(self) -> Text:
        g = self.gate
        out = Text()
        out.append(literal(g.name, style="bold", limit=100))
        out.append("   ")
        out.append("◌ STALE" if g.stale else band_label(g.band), style="bold")
        out.append("   ")
        out.append(literal(g.shown, limit=60))
        out.append("\n\n")

        def row(label: str, value: Text | str) -> None:
            out.append(f"{label:>12}  ", style="bold")
            out.append(value if isinstance(value, Text) else literal(value, limit=2000))
            out.append("\n")

        row("source", g.source)
        for label, text in self.definition:
            row(label, literal(text, multiline=True, limit=2000))
        row("window", g.window or "now (no window)")
        if self.targets:
            row("targets", ", ".join(self.targets))
        elif g.target and g.target not in ("sql", "promql"):
            row("target", g.target)
        row("bands", bands_text(g.bands))
        if g.coverage is not None:
            c = g.coverage
            row("coverage", f"{duration_text(c.covered_seconds)} of {duration_text(c.window_seconds)}"
                            f" ({100 * c.fraction:.0f} %), {c.samples} samples")
        row("observed", clock(g.observed_at, self.app.zone))
        if g.detail:
            row("detail", g.detail)
        return out

    def _show_probes(self, results: Mapping[str, Sequence[ProbeResult]]) -> None:
        """Each target's recent probes, newest first, failures with their reason."""
        self._probes = results
        out = Text()
        out.append(f"Recent probes, newest first ({self.per_target} per target)\n", style="bold")
        for target in self.targets:
            rows = results.get(target, ())
            out.append("\n")
            out.append(literal(target, style="bold", limit=100))
            failed = sum(not r.ok for r in rows)
            out.append(f"   {failed} of {len(rows)} failed\n" if rows else "   never probed\n", style="dim")
            for r in rows:
                out.append(f"  {time_text(r.at, self.app.zone)}  ")
                out.append("✔ ok    " if r.ok else "✖ FAIL  ", style="green" if r.ok else "bold red")
                out.append(f"{'HTTP ' + str(r.status) if r.status is not None else 'no answer':<10}")
                out.append(f"{r.latency_ms:>8.1f} ms  " if r.latency_ms is not None else f"{'—':>8}     ")
                if r.reason:
                    out.append(literal(r.reason, style="" if r.ok else "red", limit=300))
                out.append("\n")
        self.query_one("#gate-detail-probes", Static).update(out)

    def _failed(self, why: str) -> None:
        self.query_one("#gate-detail-probes", Static).update(
            Text(f"cannot read the recent probes: {visible(why, limit=300)}", style="bold red"))

    # The App's worker may answer before the screen is composed: the answer waits for it.
    def show_probes(self, *args) -> None:
        self._answer(self._show_probes, *args)
