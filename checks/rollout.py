"""The rollout state machine, as a pure function: given the state, the action, the
verdict and the time, either the next state or a refusal that says why.

States: idle (never started, at the first step), soaking (at a step, soak clock
running), held (soak clock paused), rolled_back (at the first step after a
rollback), complete (at the last step).
"""
from __future__ import annotations

from datetime import datetime

from .durations import duration_text
from .models import Frozen, RolloutStateName, Verdict, soak_elapsed
from .models import RolloutAction as Action


class RolloutState(Frozen):
    flag: str
    percentage: int
    state: RolloutStateName
    version: int
    stage_started_at: datetime | None = None
    soak_elapsed_s: float = 0.0  # soak done before the last resume
    soak_resumed_at: datetime | None = None  # None while not running
    updated_by: str = ""
    updated_at: datetime | None = None

    def soak_elapsed(self, now: datetime) -> float:
        return soak_elapsed(self.soak_elapsed_s, self.soak_resumed_at, now)


class Transition(Frozen):
    action: Action
    from_pct: int
    to_pct: int
    new: RolloutState
    override: bool = False
    description: str  # "10 % → 25 % of phase_4_deployment"


class Refusal(Frozen):
    action: Action
    reason: str
    overridable: bool = False  # an override (with a typed reason) would let it through


def decide(
    action: Action,
    st: RolloutState,
    *,
    steps: tuple[int, ...] | list[int],
    soak_seconds: float,
    verdict: Verdict,
    verdict_why: str = "",
    now: datetime,
    override: bool = False,
) -> Transition | Refusal:
    """`soak_seconds` is the soak of the current step."""
    steps = tuple(steps)
    pct = st.percentage
    flag = st.flag

    def moved(to: int, state, **kw) -> RolloutState:
        return st.model_copy(update={"percentage": to, "state": state, "version": st.version + 1, **kw})

    if action == "rollback":
        to = steps[0]
        return Transition(
            action=action, from_pct=pct, to_pct=to,
            new=moved(to, "rolled_back", stage_started_at=now, soak_elapsed_s=0.0, soak_resumed_at=None),
            description=f"{pct} % → {to} % of {flag} (at once)",
        )
    if action == "hold":
        if st.state != "soaking":
            return Refusal(action=action, reason=f"nothing to hold: the rollout is {st.state.replace('_', ' ')}")
        return Transition(
            action=action, from_pct=pct, to_pct=pct,
            new=moved(pct, "held", soak_elapsed_s=st.soak_elapsed(now), soak_resumed_at=None),
            description=f"hold {flag} at {pct} % (soak clock paused)",
        )
    if action == "resume":
        if st.state != "held":
            return Refusal(action=action, reason=f"nothing to resume: the rollout is {st.state.replace('_', ' ')}")
        return Transition(
            action=action, from_pct=pct, to_pct=pct,
            new=moved(pct, "soaking", soak_resumed_at=now),
            description=f"resume {flag} at {pct} % (soak clock runs again)",
        )
    # advance
    if st.state == "complete" or pct == steps[-1]:
        return Refusal(action=action, reason=f"already at the last step ({pct} %)")
    if st.state == "held":
        return Refusal(action=action, reason="the rollout is held: resume it first")
    if st.state in ("idle", "rolled_back"):
        to = steps[1]
        problems = []  # starting (again) needs a GO like any step
    else:
        to = steps[steps.index(pct) + 1] if pct in steps else next(s for s in steps if s > pct)
        problems = []
        left = soak_seconds - st.soak_elapsed(now)
        if left > 0:
            problems.append(f"soak has {duration_text(left)} left")
    if verdict is not Verdict.GO:
        problems.append(f"verdict {verdict.value}" + (f": {verdict_why}" if verdict_why else ""))
    if problems and not override:
        return Refusal(action=action, reason="; ".join(problems), overridable=True)
    state = "complete" if to == steps[-1] else "soaking"
    return Transition(
        action=action, from_pct=pct, to_pct=to,
        new=moved(to, state, stage_started_at=now, soak_elapsed_s=0.0,
                  soak_resumed_at=now if state == "soaking" else None),
        override=bool(problems) and override,
        description=f"{pct} % → {to} % of {flag}",
    )
