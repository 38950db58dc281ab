"""Gates and what is read for them: bands, verdicts, a probe gate's window slices,
probe results and a gate's judged reading."""
from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field, computed_field

from .base import Frozen


class Band(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    UNKNOWN = "unknown"


class Verdict(StrEnum):
    GO = "GO"
    HOLD = "HOLD"
    ROLLBACK = "ROLLBACK"


Op = Literal["<", "<=", ">", ">="]
_CONDITION = re.compile(r"^\s*(<=|>=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$")


class Condition(Frozen):
    """One side of a band: `value OP threshold`, e.g. `< 0.1` or `>= 98`."""

    op: Op
    threshold: float

    @classmethod
    def parse(cls, text: str) -> "Condition":
        m = _CONDITION.match(text)
        if not m:
            raise ValueError(
                f"{text!r} is not a condition; write an operator and a number, like \"< 0.1\" or \">= 98\""
            )
        return cls(op=m.group(1), threshold=float(m.group(2)))  # type: ignore[arg-type]

    def holds(self, value: float) -> bool:
        t = self.threshold
        return {
            "<": value < t,
            "<=": value <= t,
            ">": value > t,
            ">=": value >= t,
        }[self.op]

    @property
    def lower_is_better(self) -> bool:
        return self.op in ("<", "<=")

    def __str__(self) -> str:
        return f"{self.op} {self.threshold:g}"


class Bands(Frozen):
    """Green when `green` holds, red when `red` holds, yellow in between."""

    green: Condition
    red: Condition


class Coverage(Frozen):
    """How much of a windowed gate's window its samples cover (checks.coverage)."""

    window_seconds: float
    covered_seconds: float  # buckets holding a sample × the bucket size, at most the window
    samples: int

    @property
    def fraction(self) -> float:
        return 1.0 if self.window_seconds <= 0 else min(1.0, self.covered_seconds / self.window_seconds)


Granularity = Literal["raw", "minute", "hour"]


class WindowSlice(Frozen):
    """One part of a probe gate's window, read in one pass over one table
    (checks.probe_windows cuts a window into slices; the store reads them)."""

    source: Granularity
    targets: tuple[str, ...]
    bin_seconds: int  # the coverage bucket (checks.coverage.bucket_for)
    latency: bool = False  # the p95 is wanted: raw rows give it exactly, rollups a histogram
    window_seconds: float | None = None  # raw: rows with at > now() - window
    lo: datetime | None = None  # rollups: buckets from lo ...
    hi: datetime | None = None  # ... to before hi (None: up to now)
    minute_masks: bool = False  # hour rows of a minute-grained window: coverage from their minute masks


class SliceResult(Frozen):
    """What the store read for one WindowSlice."""

    ok: int = 0
    total: int = 0
    histogram: dict[int, int] = Field(default_factory=dict)  # latency bin → probes (checks.latency_histogram)
    exact_p95: float | None = None  # raw rows: percentile_cont(0.95)
    latency_samples: int = 0  # raw rows: probes with a latency
    covered: frozenset[int] = frozenset()  # rollups: starts (epoch seconds) of coverage buckets holding a probe
    covered_count: int = 0  # raw rows: how many coverage buckets hold a probe
    covered_latency_count: int = 0  # raw rows: ... a probe with a latency (what a p95 is read from)


class LatestProbe(Frozen):
    """A target's newest probe result (None when it was never probed)."""

    target: str
    at: datetime | None = None
    ok: bool = False


class GateReading(Frozen):
    """One gate's value at one moment, judged."""

    name: str
    value: float | None
    band: Band
    unit: str = ""
    source: str = "probe"
    window: str = ""
    target: str = ""
    bands: Bands | None = None
    detail: str = ""  # e.g. "4/5 healthy" or the reason the value is missing
    stale: bool = False
    observed_at: datetime | None = None
    coverage: Coverage | None = None  # windowed probe gates: how much of the window the data covers

    @computed_field  # type: ignore[prop-decorator]
    @property
    def shown(self) -> str:
        """The value as an operator reads it (checks.verdict.format_value): what the
        table, the CLI and the report print, so a widget needs nothing but this model."""
        from ..verdict import format_value  # verdict judges with these models: imported when read

        return format_value(self.value, self.unit, self.bands)


class ProbeResult(Frozen):
    """One health check of one target."""

    target: str
    at: datetime
    ok: bool
    status: int | None = None
    latency_ms: float | None = None
    reason: str = ""
