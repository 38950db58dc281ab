"""Text helpers shared by the widgets (pure functions)."""
from __future__ import annotations

from checks.models import Band

# A band is told by its symbol and its word as well as by its colour: a monochrome
# terminal, NO_COLOR or a colour-blind reader still tells red from yellow.
BAND_SYMBOL = {Band.GREEN: "●", Band.YELLOW: "▲", Band.RED: "✖", Band.UNKNOWN: "?"}


def band_label(band: Band) -> str:
    """`✖ RED`, `▲ YELLOW`, `● GREEN`, `? UNKNOWN`."""
    return f"{BAND_SYMBOL[band]} {band.value.upper()}"


# The colours come from the theme: a widget declares these component classes (see
# `BAND_CSS`) and reads them with `get_component_rich_style`, so a light theme gets
# its own readable greens and reds. The `$text-*` variants are the theme's colours
# made readable as text on its background ($warning itself is yellow on white);
# $foreground-muted, not $text-muted: the `auto` colour of the latter is worked out
# against no background in a component style, and comes out white on a light theme.
BAND_CLASS = {Band.GREEN: "band--green", Band.YELLOW: "band--yellow", Band.RED: "band--red",
              Band.UNKNOWN: "band--unknown"}
BAND_CLASSES = {*BAND_CLASS.values(), "band--stale", "band--muted"}


def band_css(widget: str) -> str:
    """The component-class rules for the band styles, scoped to `widget`."""
    return f"""
    {widget} > .band--green {{ color: $text-success; text-style: bold; }}
    {widget} > .band--yellow {{ color: $text-warning; text-style: bold; }}
    {widget} > .band--red {{ color: $text-error; text-style: bold; }}
    {widget} > .band--unknown {{ color: $text-secondary; text-style: bold; }}
    {widget} > .band--stale {{ color: $foreground; background: $warning-muted; text-style: bold; }}
    {widget} > .band--muted {{ color: $foreground-muted; }}
    """


# Rich styles for the places that have no widget to read a theme from (a dialog's
# Text built before it is mounted, the CLI). Kept for those importers.
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

