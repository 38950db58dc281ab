"""Textual's footer, keeping the keys that matter most when they do not all fit.

Textual's `Footer` lays every shown binding out in a row and lets the terminal cut
the row off: at 80 columns the console's footer stopped at `k`, losing Help and the
demo keys, and the palette key sat on top of whatever was under it. This footer
picks, for its width, the keys to show:

1. every key, spaced as Textual spaces them, if they all fit;
2. otherwise the compact style (no padding around the key), and the keys in the
   order of `rank` (an action's name; a key whose action is not ranked comes after
   the ranked ones, in its own order) for as long as they fit.

The keys kept are shown in their usual order, so a key does not move when the
terminal grows. Every key, shown here or not, is still in the help (`?`) and the
command palette: the App's one list of keys feeds all three.

Widths are counted as Textual lays the keys out (the key, its description, their
padding and the gap between keys), in cells.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PALETTE_ACTION = "command_palette"


def key_width(key_display: str, description: str, *, compact: bool, palette: bool = False) -> int:
    """Cells one key takes in the footer's row (Footer's and FooterKey's DEFAULT_CSS)."""
    body = cell_len(key_display) + (1 + cell_len(description) if description else 0)
    if palette:
        # Always drawn compact, docked right: a border on its left, and a cell on its right
        # (its padding, or in a compact footer the margin every key has).
        return body + 2
    if compact:
        return body + 1  # the margin after each key
    return body + 2  # the key's padding (0 1) and the description's (0 1 0 0) instead of the one space


def choose(keys: Sequence[tuple[str, str, str]], width: int, rank: Sequence[str]) -> tuple[list[int], bool]:
    """Which keys (action, key display, description) to show in `width` cells: their
    indexes, in the order given, and whether compact. See the module's docstring."""
    def widths(compact: bool) -> list[int]:
        return [key_width(k, d, compact=compact, palette=a == PALETTE_ACTION) for a, k, d in keys]

    if sum(widths(False)) <= width:
        return list(range(len(keys))), False
    sized = widths(True)
    order = {action: i for i, action in enumerate(rank)}
    by_importance = sorted(range(len(keys)), key=lambda i: (order.get(keys[i][0], len(order)), i))
    kept, used = set(), 0
    for i in by_importance:
        if used + sized[i] <= width:
            kept.add(i)
            used += sized[i]
    return sorted(kept), True


class KeyFooter(Footer):
    """A `Footer` that shows the most important keys that fit its width.

    `rank`: action names, most important first; by default the App's `FOOTER_RANK`.
    Recomposed when its width changes."""

    def __init__(self, *children, rank: Iterable[str] | None = None, **kwargs) -> None:
        super().__init__(*children, **kwargs)
        self.rank = None if rank is None else tuple(rank)
        self._composed_for = 0

    def compose(self) -> ComposeResult:
        items = list(super().compose())
        if not items or not all(isinstance(w, FooterKey) for w in items):
            yield from items  # binding groups: laid out by Textual, as they are
            return
        width = self.size.width or self.app.size.width
        self._composed_for = width
        keys = [(w.action, w.key_display, w.description) for w in items]
        rank = self.rank if self.rank is not None else tuple(getattr(self.app, "FOOTER_RANK", ()))
        shown, compact = choose(keys, width, rank)
        # Before the keys mount: they take the footer's style from it (data_bind).
        self.set_reactive(Footer.compact, compact)
        self.set_class(compact, "-compact")
        for i in shown:
            yield items[i]

    def on_resize(self) -> None:
        if self.size.width != self._composed_for and self._bindings_ready:
            self.call_after_refresh(self.recompose)
