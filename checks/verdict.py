"""The go/no-go rule."""
from __future__ import annotations

from collections.abc import Iterable

from .models import Band, GateReading, Verdict


def verdict(bands: Iterable[Band]) -> Verdict:
    """Any red → ROLLBACK; else anything not green (yellow or unknown) → HOLD;
    all green → GO. No gates at all is not evidence of health: HOLD."""
    seen = list(bands)
    if any(b is Band.RED for b in seen):
        return Verdict.ROLLBACK
    if not seen or any(b is not Band.GREEN for b in seen):
        return Verdict.HOLD
    return Verdict.GO


def reasons(readings: Iterable[GateReading]) -> tuple[str, ...]:
    """Why the verdict is not GO, worst first: `p95_latency red (612 ms > 500)`."""
    order = {Band.RED: 0, Band.UNKNOWN: 1, Band.YELLOW: 2}
    out = []
    for r in sorted((r for r in readings if r.band is not Band.GREEN), key=lambda r: order[r.band]):
        if r.band is Band.UNKNOWN:
            why = "stale" if r.stale else (r.detail or "no data")
            out.append(f"{r.name} unknown ({why})")
        else:
            out.append(f"{r.name} {r.band.value} ({format_value(r.value, r.unit)})")
    return tuple(out)


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value:.0f} ms"
    if unit == "%":
        if value >= 100:
            return "100 %"
        return f"{value:.3f} %" if value < 1 else f"{value:.2f} %"
    if unit == "$":
        return f"${value:.2f}"
    if float(value).is_integer():
        return f"{value:.0f}{(' ' + unit) if unit else ''}"
    return f"{value:.3g}{(' ' + unit) if unit else ''}"
