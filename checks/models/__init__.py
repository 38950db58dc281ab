"""The typed values that cross every boundary: gate specs, readings, the snapshot.

All models are frozen so a widget can compare the new snapshot with the old one by
value and skip a redraw when nothing changed.

One module a family, and every name imported from here (`from checks.models import
X`), the one door the widgets may use (pyproject.toml's import-linter contracts):
`gates` (bands, verdicts, window slices, probe results, a gate's reading), `review`
(a criterion's mark, a decision, a recorded review), `rollout` (its state, the audit
trail's events, actions, auto-rollback's watch, the notices of a change), `alerts`
(the feed's and the detail's alerts, the loud events), `snapshot` (everything on
screen at one moment, and the banner's stance), `evidence` (the history chart and a
review criterion's evidence); `base` holds the frozen base they share.
"""
from __future__ import annotations

from .alerts import Alert, AlertDetail, Notice, NoticeKind
from .base import Frozen
from .evidence import ChartView, CriterionEvidence, EvidenceTable
from .gates import (Band, Bands, Condition, Coverage, GateReading, Granularity, LatestProbe, Op, ProbeResult,
                    SliceResult, Verdict, WindowSlice)
from .review import REVIEW_DECISIONS, CriterionMark, ReviewDecision, ReviewDecisionName, ReviewRecord
from .rollout import (ROLLOUT_ACTIONS, ActionRequest, Actuation, AuditEvent, AutoRollbackView, BreachRun,
                      NotifyEvent, NotifyKind, RolloutAction, RolloutNotice, RolloutStateName, RolloutView,
                      soak_elapsed)
from .snapshot import BurnInView, Snapshot, SourceHealth, Stance

__all__ = [
    "ActionRequest", "Actuation", "Alert", "AlertDetail", "AuditEvent", "AutoRollbackView", "Band", "Bands",
    "BreachRun", "BurnInView", "ChartView", "Condition", "Coverage", "CriterionEvidence", "CriterionMark",
    "EvidenceTable", "Frozen", "GateReading", "Granularity", "LatestProbe", "Notice", "NoticeKind", "NotifyEvent",
    "NotifyKind", "Op", "ProbeResult", "REVIEW_DECISIONS", "ROLLOUT_ACTIONS", "ReviewDecision", "ReviewDecisionName",
    "ReviewRecord", "RolloutAction", "RolloutNotice", "RolloutStateName", "RolloutView", "SliceResult", "Snapshot",
    "SourceHealth", "Stance", "Verdict", "WindowSlice", "soak_elapsed",
]
