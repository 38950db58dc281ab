"""The Snapshot: everything on screen at one moment, with the parts that are only
its (the burn-in, the sources' health) and what its banner says (the Stance)."""
from __future__ import annotations

from datetime import datetime, tzinfo

from pydantic import Field

from .alerts import Alert, Notice
from .base import Frozen
from .gates import GateReading, Verdict
from .rollout import AuditEvent, AutoRollbackView, RolloutView


class BurnInView(Frozen):
    start: datetime
    end: datetime
    review: datetime
    clean_days: int
    days: int


class SourceHealth(Frozen):
    """Whether a data source answered on its last attempt, and why not."""

    name: str
    ok: bool
    reason: str = ""
    since: datetime | None = None


class Stance(Frozen):
    """The banner's two statements, kept apart: what the gates say (a recommendation)
    and what the rollout is (a fact, and whether an advance would pass now)."""

    verdict: Verdict
    note: str = ""  # under the verdict word: "recommended", "at 0 %" (nothing left to roll back)
    gates: str  # "ROLLBACK recommended: error_rate red (1.80 %)"
    rollout: str  # "advance not allowed: soak has 3h 12m left" / "advance allowed: 10 % → 25 %"
    advance_allowed: bool = False
    rolled_back: bool = False  # the rollout is rolled back (a fact, not a recommendation)


class Snapshot(Frozen):
    """Everything on screen at one moment."""

    at: datetime
    verdict: Verdict
    reasons: tuple[str, ...] = ()
    gates: tuple[GateReading, ...] = ()
    rollout: RolloutView | None = None
    alerts: tuple[Alert, ...] = ()
    burn_in: BurnInView | None = None
    database: SourceHealth = Field(default_factory=lambda: SourceHealth(name="database", ok=True))
    sources: tuple[SourceHealth, ...] = ()
    leader: bool = False
    auto_rollback: AutoRollbackView | None = None
    history: dict[str, tuple[float | None, ...]] = Field(default_factory=dict)
    # The newest automatic rollback of the flag in the audit trail, read while its alert
    # is open and unacknowledged: the banner says from → to, when and why (checks.notices).
    auto_rollback_event: AuditEvent | None = None
    # When each value of `history` was recorded (the chart's clock axis); empty: 15 s apart, ending at `at`.
    history_at: dict[str, tuple[datetime, ...]] = Field(default_factory=dict)

    @property
    def stance(self) -> "Stance":
        """What the gates say and what the rollout is, apart (checks.notices.stance),
        judged at the snapshot's own time: a widget needs nothing but this model."""
        from ..notices import stance  # notices judges with these models: imported when read

        return stance(self.verdict, self.reasons, self.rollout, self.at)

    @property
    def notices(self) -> tuple["Notice", ...]:
        """The loud events not yet acknowledged, as every console shows them."""
        from ..notices import loud_notices

        return loud_notices(self.alerts, self.rollout, self.auto_rollback_event)

    @property
    def notice_lines(self) -> tuple[str, ...]:
        """The banner's loud lines: the notices, the last line folding those with no room."""
        from ..notices import banner_lines

        return banner_lines(self.notices)

    def stance_in(self, zone: "tzinfo") -> "Stance":
        """`stance`, its times written in `zone` (the console's zone, or UTC)."""
        from ..notices import stance

        return stance(self.verdict, self.reasons, self.rollout, self.at, zone)

    def notice_lines_in(self, zone: "tzinfo") -> tuple[str, ...]:
        """`notice_lines`, their times written in `zone`."""
        from ..notices import banner_lines, loud_notices

        return banner_lines(loud_notices(self.alerts, self.rollout, self.auto_rollback_event, zone))
