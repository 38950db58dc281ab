"""Judging one value against its bands."""
from __future__ import annotations

from .models import Band, Bands, Condition


def judge(value: float | None, bands: Bands | None, *, stale: bool = False) -> Band:
    """Green, yellow or red by the bands; unknown when there is no value, no bands,
    or the value is stale. Unknown is never green."""
    if value is None or bands is None or stale:
        return Band.UNKNOWN
    if value != value:  # NaN: a source answered but said nothing usable
        return Band.UNKNOWN
    if bands.red.holds(value):
        return Band.RED
    if bands.green.holds(value):
        return Band.GREEN
    return Band.YELLOW


def check_bands(green: Condition, red: Condition) -> None:
    """Refuse bands that point in the same direction or overlap.

    Green `< 0.1` with red `> 1.0` is fine; green `< 5` with red `< 1` is not (both
    say lower is one thing), nor green `< 5` with red `> 1` (2 would be both)."""
    if green.lower_is_better == red.lower_is_better:
        raise ValueError(
            f"green ({green}) and red ({red}) point the same way; one must be < / <= and the other > / >="
        )
    g, r = green.threshold, red.threshold
    if green.lower_is_better:
        overlap = r < g or (r == g and green.op == "<=" and red.op == ">=")
    else:
        overlap = r > g or (r == g and green.op == ">=" and red.op == "<=")
    if overlap:
        raise ValueError(f"green ({green}) and red ({red}) overlap: a value could be both")
