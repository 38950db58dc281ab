"""What the engine tells the UI: typed messages carrying frozen models."""
from __future__ import annotations

from textual.message import Message

from checks.models import RolloutNotice, Snapshot


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
    """A rollout change NOTIFYed by any process (this one included), or one the
    leader re-applied after a crash."""

    def __init__(self, notice: RolloutNotice) -> None:
        super().__init__()
        self.notice = notice
