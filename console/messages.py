"""What the engine tells the UI: typed messages carrying frozen models."""
from __future__ import annotations

from textual.message import Message

from checks.models import Snapshot


class SnapshotUpdated(Message):
    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class EngineStatus(Message):
    """Before the first snapshot: what the engine is doing (starting the database...)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class RolloutChanged(Message):
    """A rollout change NOTIFYed by any process (this one included)."""

    def __init__(self, payload: dict) -> None:
        super().__init__()
        self.payload = payload
