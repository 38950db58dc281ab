"""The rollout and what is said of it: its state, the audit trail's events, the
actions an operator asks for, auto-rollback's watch, and the notices of a change
(to every console, and to the webhooks)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import ConfigDict, Field

from .base import Frozen
from .gates import Verdict
from .review import ReviewRecord

RolloutStateName = Literal["idle", "soaking", "held", "rolled_back", "complete"]


def soak_elapsed(done_seconds: float, running_since: datetime | None, now: datetime) -> float:
    """The one soak clock: what was done before, plus the time since it last started
    running (None: paused). Rollout state, screen and preview all read it so."""
    running = (now - running_since).total_seconds() if running_since is not None else 0.0
    return done_seconds + max(0.0, running)


class RolloutView(Frozen):
    flag: str
    steps: tuple[int, ...]
    percentage: int
    state: RolloutStateName
    version: int
    stage_started_at: datetime | None = None
    soak_seconds: float = 0.0  # this step's soak
    soak_elapsed_seconds: float = 0.0  # soak already done, as of `as_of`
    as_of: datetime | None = None  # when soak_elapsed_seconds was measured
    updated_by: str = ""
    actuation: Literal["ok", "pending", "failed"] = "ok"  # did the change reach the system?
    actuation_error: str = ""

    def soak_elapsed_at(self, now: datetime) -> float:
        """Soak done at `now`: the clock runs only while soaking."""
        return soak_elapsed(self.soak_elapsed_seconds, self.as_of if self.state == "soaking" else None, now)

    def soak_left_at(self, now: datetime) -> float:
        return max(0.0, self.soak_seconds - self.soak_elapsed_at(now))


class AuditEvent(Frozen):
    """One event of a rollout's audit trail, as the history screen, `gonogo status`
    and the report show it (the chain and signature fields stay in checks.audit)."""

    at: datetime
    operator: str
    action: str
    from_pct: int
    to_pct: int
    reason: str
    verdict: str
    automatic: bool = False
    override: bool = False
    review: "ReviewRecord | None" = None  # a go/no-go review's decision and marks (action "review")

    @property
    def marks(self) -> str:
        """`AUTO`, `OVERRIDE`, both or neither: the one place these are spelled."""
        return " ".join(m for m, on in (("AUTO", self.automatic), ("OVERRIDE", self.override)) if on)

    def status_json(self) -> dict:
        """The shape `gonogo status --json` prints (DESIGN.md's contract)."""
        return {"at": self.at.isoformat(), "operator": self.operator, "action": self.action, "from": self.from_pct,
                "to": self.to_pct, "reason": self.reason, "automatic": self.automatic, "override": self.override,
                "verdict": self.verdict}


class BreachRun(Frozen):
    """A gate watched by auto-rollback that is red now: for how long, over how many
    recorded evaluations."""

    gate: str
    seconds: float
    evaluations: int


class AutoRollbackView(Frozen):
    enabled: bool
    gates: tuple[str, ...] = ()
    sustain_seconds: float = 0.0
    consecutive: int = 0
    breaching: tuple[BreachRun, ...] = ()


RolloutAction = Literal["advance", "hold", "resume", "rollback"]
"""The four things an operator (or auto-rollback) does to a rollout: the keys, the
CLI's commands, the controller, the audit trail and the notices all name them so."""
ROLLOUT_ACTIONS: tuple[RolloutAction, ...] = get_args(RolloutAction)

Actuation = Literal["ok", "pending", "failed", "superseded", ""]
"""Whether a change reached the system: applied, not yet, failed (with a reason), or
overtaken by a newer change that applied itself instead ("": not said)."""


class ActionRequest(Frozen):
    """What an operator confirmed in the action dialog: the App hands it to the
    RolloutController with the version (and verdict) they saw when they confirmed."""

    action: RolloutAction
    reason: str
    override: bool = False
    seen_version: int
    seen_verdict: Verdict  # the verdict the operator confirmed against


class RolloutNotice(Frozen):
    """A rollout change, as every console hears it: the NOTIFY payload the controller
    sends (an action: who did what, from → to; or an actuation's outcome), and the
    notice the leader gives its own screen when it applied a change a crash had left
    unapplied (`recovered`; never sent).

    It comes from outside (any process may NOTIFY the channel), so a payload that
    does not validate is ignored; keys it does not know are ignored too, so a newer
    console's notice still reaches an older one. On the wire (console/store/rollout.py
    `notify`) `from_pct` and `to_pct` are `from` and `to`, and fields left at their
    default are left out."""

    model_config = ConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    flag: str
    version: int | None = None
    operator: str = ""
    action: RolloutAction | None = None
    from_pct: int | None = Field(default=None, alias="from")
    to_pct: int | None = Field(default=None, alias="to")
    automatic: bool = False
    origin: str = ""  # host:pid of the process that acted: a console skips the notice of its own action
    actuation: Actuation = ""
    recovered: str = ""  # what the leader re-applied after a crash (its own screen only)
    review: str = ""  # a go/no-go review was recorded: its decision, "GO" or "NO-GO" (action stays None)


NotifyKind = Literal["auto_rollback", "actuator_failure", "critical_alert_opened", "critical_alert_resolved",
                     "review_decision", "rollout_action"]


class NotifyEvent(Frozen):
    """One event a `[[notify]]` webhook may be told of, read by the leader from the row
    it comes from (Store.notify_events). `key` is derived from that row (an audit
    event's id, an alert episode, a rollout version), so whichever leader reads it,
    whenever, it is the same event: the outbox sends it once per webhook. Text fields
    are outside text (operators, reasons, summaries)."""

    key: str
    kind: NotifyKind
    at: datetime
    flag: str = ""
    action: str = ""  # the audit row's action (advance, hold, resume, rollback, review)
    from_pct: int | None = None
    to_pct: int | None = None
    operator: str = ""
    reason: str = ""
    automatic: bool = False
    override: bool = False
    verdict: str = ""  # the gates' verdict at an action; a review's decision (GO / NO-GO)
    severity: str = ""  # alerts
    name: str = ""
    summary: str = ""  # an alert's summary, an actuator's error
    source: str = ""
