"""Text helpers shared by the widgets (pure functions)."""
from __future__ import annotations

from checks.models import Band

BAND_STYLE = {
    Band.GREEN: "bold green",
    Band.YELLOW: "bold yellow",
    Band.RED: "bold red",
    Band.UNKNOWN: "bold magenta",
}
VERDICT_STYLE = {"GO": "bold white on dark_green", "HOLD": "bold black on yellow", "ROLLBACK": "bold white on red"}
SEVERITY_STYLE = {
    "p0": "bold white on red", "critical": "bold red", "p1": "bold red",
    "p2": "yellow", "warning": "yellow", "p3": "cyan", "info": "cyan", "p4": "dim",
}

_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values, width: int = 16, bands=None) -> str:
    """The last `width` values as block characters; a missing value is a space.
    Scaled to span the gate's green and red thresholds as well as the values, so a
    change of 0.0001 % does not draw a cliff."""
    pts = list(values)[-width:]
    nums = [v for v in pts if v is not None]
    if not nums:
        return ""
    lo, hi = min(nums), max(nums)
    if bands is not None:
        lo = min(lo, bands.green.threshold, bands.red.threshold)
        hi = max(hi, bands.green.threshold, bands.red.threshold)
        if bands.green.lower_is_better:
            lo = min(lo, 0.0)
    span = hi - lo
    out = []
    for v in pts:
        if v is None:
            out.append(" ")
        elif span == 0:
            out.append(_BLOCKS[0])
        else:
            out.append(_BLOCKS[min(7, int((v - lo) / span * 7.999))])
    return "".join(out)

