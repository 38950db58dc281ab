"""Alerts as the feed and an alert's detail show them, and the loud events among
them that every console shows until acknowledged (checks.notices)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .base import Frozen


class Alert(Frozen):
    at: datetime
    source: str  # "rule", "alertmanager", "events"
    severity: str  # P0..P4 or critical / warning / info
    name: str
    summary: str = ""
    fingerprint: str = ""
    acked: bool = False
    first_at: datetime | None = None  # when this episode began (`at` is when it was last seen): with the
    # fingerprint, the identity of one loud event (checks.notices), which rings once
    labels: dict[str, str] = Field(default_factory=dict)  # Alertmanager's, bounded (checks.alertmanager); the
    # feed leaves them out, the alert's detail reads them back from the store
    labels_left_out: int = 0  # labels beyond the bound, counted, not kept


class AlertDetail(Frozen):
    """One alert as its detail screen shows it: the whole text, where it came from,
    when it was first and last seen, and who acknowledged it (the feed's `Alert`
    carries only what a row shows)."""

    fingerprint: str
    source: str
    severity: str
    name: str
    summary: str = ""
    first_at: datetime
    last_at: datetime
    resolved_at: datetime | None = None
    acked_at: datetime | None = None
    acked_by: str = ""
    labels: dict[str, str] = Field(default_factory=dict)  # Alertmanager's labels; {} for the other sources
    labels_left_out: int = 0  # how many more labels the alert had than were kept (checks.alertmanager)


NoticeKind = Literal["auto_rollback", "actuation", "critical"]


class Notice(Frozen):
    """A loud event (an auto-rollback, a rollout not applied, a new critical alert):
    a line on the banner of every console until someone acknowledges its alert, and
    one ring of the bell in each console that saw it happen (checks.notices)."""

    key: str  # the event: its alert's fingerprint and the moment it began; rings once
    kind: NoticeKind
    fingerprint: str
    name: str  # the alert's name, for a folded line ("+ 2 more: DiskFull, …")
    at: datetime
    text: str  # outside text inside (reasons, summaries): shown through widgets.literal
