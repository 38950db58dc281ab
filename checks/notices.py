"""What the banner says, as pure functions: the gates' word apart from the rollout's
state, and the loud events that stay on every console until someone acknowledges them.

The gates recommend (GO, HOLD, ROLLBACK recommended); the rollout is (advance
allowed, or why not: soak left, held, rolled back). Whether an advance is allowed is
`would_do`, the one function the action dialog's preview (console/rollout.py) asks
too, so the banner never says "advance allowed" when an advance would be refused.

Loud events come from the database, so every console shows the same lines and an
acknowledgement in one clears them on all: an open, unacknowledged alert of the
rollout (`rollout:auto_rollback:<flag>`, raised by auto-rollback;
`rollout:actuation:<flag>`, raised when a change did not reach the system) or any
other critical one (`critical`, `P0`, `P1`). One event is one alert episode, its
fingerprint and the moment it began: re-raised after it resolved, it is a new event.
Times are written in UTC with the zone ("03:12:09 UTC") until the console has one
configurable zone (checks.times)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone, tzinfo

from .models import Alert, AuditEvent, Notice, RolloutAction, RolloutView, Stance, Verdict
from .rollout import Refusal, RolloutState, Transition, decide
from .times import time_text

AUTO_ROLLBACK_PREFIX = "rollout:auto_rollback:"
ACTUATION_PREFIX = "rollout:actuation:"
CRITICAL_SEVERITIES = frozenset({"critical", "p0", "p1"})  # the feed's loudest severities (widgets/format.py)
ROOM = 3  # banner lines for loud events; more fold into the last one
# An auto-rollback's alert is raised right after its audit event is committed: an
# automatic rollback that much older than the alert is not the one it tells of.
_EVENT_MATCH = timedelta(minutes=10)


def would_do(action: RolloutAction, view: RolloutView, verdict: Verdict, now: datetime, *,
             verdict_why: str = "") -> Transition | Refusal:
    """What `action` would do on the rollout as the snapshot shows it (checks.rollout's
    rules). The controller decides again, under a lock, when it acts."""
    st = RolloutState(flag=view.flag, percentage=view.percentage, state=view.state, version=view.version,
                      stage_started_at=view.stage_started_at, soak_elapsed_s=view.soak_elapsed_at(now),
                      soak_resumed_at=None)
    return decide(action, st, steps=view.steps, soak_seconds=view.soak_seconds, verdict=verdict,
                  verdict_why=verdict_why, now=now)


def stance(verdict: Verdict, reasons: Sequence[str], rollout: RolloutView | None, now: datetime,
           zone: tzinfo = timezone.utc) -> Stance:
    """The gates' statement and the rollout's, each one line."""
    why = " · ".join(reasons)
    at_first_step = rollout is not None and rollout.percentage == rollout.steps[0]
    note = ""
    if verdict is Verdict.GO:
        gates = "GO: all gates green"
    elif verdict is Verdict.HOLD:
        gates = f"HOLD: {why}" if why else "HOLD: no gates"
    elif at_first_step:
        # Red gates with nothing left to roll back: not a recommendation to act.
        note = f"at {rollout.percentage} %"
        gates = f"ROLLBACK, nothing to roll back (at {rollout.percentage} %): {why}"
    else:
        note = "recommended"
        gates = f"ROLLBACK recommended: {why}"
    if rollout is None:
        return Stance(verdict=verdict, note=note, gates=gates, rollout="rollout state not loaded yet")
    rolled_back = rollout.state == "rolled_back"
    facts = []
    if rolled_back:
        when = f" at {time_text(rollout.stage_started_at, zone)}" if rollout.stage_started_at else ""
        by = f" by {rollout.updated_by}" if rollout.updated_by else ""
        facts.append(f"ROLLED BACK to {rollout.percentage} %{when}{by}")
    elif rollout.state == "held":
        facts.append(f"HELD at {rollout.percentage} %")
    elif rollout.state == "complete":
        facts.append(f"complete at {rollout.percentage} %")
    # Why not, without the gates' reasons again: they are on the line above.
    plan = would_do("advance", rollout, verdict, now)
    allowed = isinstance(plan, Transition)
    if allowed:
        facts.append(f"advance allowed: {plan.from_pct} % → {plan.to_pct} %")
    elif rollout.state != "complete":
        # With a GO only the rollout (its soak, its hold) stands in the way, for now.
        facts.append(f"advance not allowed{' yet' if verdict is Verdict.GO else ''}: {plan.reason}")
    return Stance(verdict=verdict, note=note, gates=gates, rollout="; ".join(facts), advance_allowed=allowed,
                  rolled_back=rolled_back)


def event_key(alert: Alert) -> str:
    """One loud event: the alert's fingerprint and when its episode began."""
    began = alert.first_at or alert.at
    return f"{alert.fingerprint}@{began.isoformat()}"


def loud_notices(alerts: Iterable[Alert], rollout: RolloutView | None = None,
                 auto_event: AuditEvent | None = None, zone: tzinfo = timezone.utc) -> tuple[Notice, ...]:
    """The loud events showing now: auto-rollbacks first, then rollouts not applied,
    then critical alerts, newest first within each. An acknowledged or resolved alert
    (the feed reads those as acked) shows nothing."""
    found: dict[str, list[Notice]] = {"auto_rollback": [], "actuation": [], "critical": []}
    for a in alerts:
        if a.acked:
            continue
        began = a.first_at or a.at
        base = dict(key=event_key(a), fingerprint=a.fingerprint, name=a.name, at=began)
        if a.source == "rollout" and a.fingerprint.startswith(AUTO_ROLLBACK_PREFIX):
            found["auto_rollback"].append(Notice(kind="auto_rollback", text=_auto_text(a, auto_event, zone), **base))
        elif a.source == "rollout" and a.fingerprint.startswith(ACTUATION_PREFIX):
            text = f"NOT APPLIED since {time_text(began, zone)}: {a.summary or a.name}"
            found["actuation"].append(Notice(kind="actuation", text=text, **base))
        elif a.severity.strip().lower() in CRITICAL_SEVERITIES:
            text = f"CRITICAL {a.name} at {time_text(began, zone)}" + (f": {a.summary}" if a.summary else "")
            found["critical"].append(Notice(kind="critical", text=text, **base))
    return tuple(n for kind in found.values() for n in sorted(kind, key=lambda n: n.at, reverse=True))


def _auto_text(alert: Alert, event: AuditEvent | None, zone: tzinfo) -> str:
    began = alert.first_at or alert.at
    if (event is not None and event.automatic and event.action == "rollback"
            and began - _EVENT_MATCH <= event.at <= began + timedelta(minutes=1)):
        why = event.reason.removeprefix("auto-rollback: ")
        return f"AUTO-ROLLED BACK {event.from_pct} % → {event.to_pct} % at {time_text(event.at, zone)}: {why}"
    # No audit event to match (not read, or the trail is elsewhere): the alert's own words.
    return f"AUTO-ROLLED BACK at {time_text(began, zone)}: {alert.summary or alert.name}"


def banner_lines(notices: Sequence[Notice], room: int = ROOM) -> tuple[str, ...]:
    """One line per notice while they fit in `room`; past it, the last line says how
    many more there are and names them (the alerts panel has them all)."""
    if len(notices) <= room:
        return tuple(n.text for n in notices)
    shown, rest = notices[:room - 1], notices[room - 1:]
    names = ", ".join(n.name for n in rest[:5]) + (", …" if len(rest) > 5 else "")
    return (*(n.text for n in shown), f"+ {len(rest)} more unacknowledged: {names} (see the alerts)")


class NewEvents:
    """Which loud events are new to one console, so its bell rings once per event, not
    once per snapshot. The first notices it is shown (the first snapshot read from the
    database) happened before the console started: they are remembered, never rung."""

    KEEP = 1000  # events remembered; the oldest are forgotten first (they are long acknowledged)

    def __init__(self) -> None:
        self._seen: dict[str, None] | None = None

    def new(self, notices: Iterable[Notice]) -> tuple[Notice, ...]:
        notices = tuple(notices)
        if self._seen is None:
            self._seen = dict.fromkeys(n.key for n in notices)
            return ()
        fresh = tuple(n for n in notices if n.key not in self._seen)
        for n in fresh:
            self._seen[n.key] = None
        while len(self._seen) > self.KEEP:
            del self._seen[next(iter(self._seen))]
        return fresh
