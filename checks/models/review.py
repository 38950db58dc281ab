"""The go/no-go review: each criterion as the reviewer marked it, the decision they
record, and a recorded review read back from the audit trail."""
from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from .base import Frozen
from .gates import Band

ReviewDecisionName = Literal["GO", "NO-GO"]
REVIEW_DECISIONS: tuple[ReviewDecisionName, ...] = get_args(ReviewDecisionName)


class CriterionMark(Frozen):
    """One burn-in criterion as the reviewer saw and marked it: the gate's reading at
    that moment (checks.review.criteria) and the reviewer's mark. Unmarked is not
    accepted: a GO needs every criterion accepted, or an override."""

    gate: str
    value: float | None = None
    shown: str = ""  # the value as the screen showed it (GateReading.shown)
    band: Band = Band.UNKNOWN
    window: str = ""
    coverage: float | None = None  # the fraction of the window the data covers; None: not a windowed gate
    accepted: bool = False
    note: str = ""  # the reviewer's, outside text: shown through widgets.literal


class ReviewDecision(Frozen):
    """What a reviewer records (the review screen's dialog, `gonogo review`): the
    RolloutController writes it as a `review` event of the audit trail."""

    decision: ReviewDecisionName
    reason: str
    present: str = ""  # the names of the others present, free text
    criteria: tuple[CriterionMark, ...] = ()
    override: bool = False  # GO recorded over a criterion not accepted
    seen_version: int | None = None  # the rollout version the reviewer saw; None: not checked (a script)


class ReviewRecord(Frozen):
    """A recorded review, read back from the audit trail (Store.reviews): who decided
    what, when, at which percentage and verdict, and each criterion's mark."""

    id: int  # the audit event's id
    at: datetime
    operator: str
    decision: ReviewDecisionName
    reason: str
    present: str = ""
    override: bool = False
    verdict: str  # the gates' verdict when the decision was recorded
    percentage: int
    criteria: tuple[CriterionMark, ...] = ()

    def review_json(self) -> dict:
        """The shape `gonogo review --json` prints for a recorded review."""
        return {"id": self.id, "at": self.at.isoformat(), "operator": self.operator, "decision": self.decision,
                "reason": self.reason, "present": self.present, "override": self.override, "verdict": self.verdict,
                "percentage": self.percentage, "criteria": [c.model_dump(mode="json") for c in self.criteria]}
