"""A 1 Hz countdown tick that rides along with the snapshot when one arrives.

Snapshots arrive about once a second; a widget's own 1 Hz timer firing half a
second later would make the screen repaint twice a second. So a ticking widget is
ticked by the screen together with the snapshot, and its own timer only fills in
when no snapshot came (the engine is slow or the database is away)."""
from __future__ import annotations

import time


class Ticker:
    def __init__(self, callback, period: float = 1.0):
        self._callback = callback
        self._period = period
        self._last = 0.0

    def tick(self) -> None:
        self._last = time.monotonic()
        self._callback()

    def on_timer(self) -> None:
        if time.monotonic() - self._last >= self._period * 0.9:
            self.tick()
