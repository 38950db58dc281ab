"""The go/no-go rule."""
from __future__ import annotations

from collections.abc import Iterable

from .bands import judge
from .models import Band, Bands, GateReading, Verdict


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
            out.append(f"{r.name} {r.band.value} ({format_value(r.value, r.unit, r.bands)})")
    return tuple(out)


def format_value(value: float | None, unit: str, bands: Bands | None = None) -> str:
    """The value as an operator reads it. Given the bands, it carries enough digits
    that the number shown is judged as the value is: 99.979 against `>= 99.98` is
    never shown as "99.98"."""
    if value is None:
        return "—"
    text = _format(value, unit, 0)
    if bands is not None:
        for extra in range(1, 5):
            if judge(_shown_number(text), bands) is judge(value, bands):
                break
            text = _format(value, unit, extra)
    return text


def _format(value: float, unit: str, extra: int) -> str:
    if unit == "ms":
        return f"{value:.{extra}f} ms"
    if unit == "%":
        if value >= 100 and extra == 0 and value == 100:
            return "100 %"
        return f"{value:.{(3 if value < 1 else 2) + extra}f} %"
    if unit == "$":
        return f"${value:.{2 + extra}f}"
    if float(value).is_integer() and extra == 0:
        return f"{value:.0f}{(' ' + unit) if unit else ''}"
    return f"{value:.{3 + extra}g}{(' ' + unit) if unit else ''}"


def _shown_number(text: str) -> float:
    return float(text.replace("$", "").split()[0])
