"""The RolloutController: the only way the rollout changes. Keys, the CLI and
auto-rollback all call `act`, which in one transaction locks the rollout row,
compares the version the operator saw, decides (checks.rollout), applies, bumps the
version, appends the audit event (hash-chained and signed with the audit key,
console/audit_key.py) and signs the new head, applies a database actuator, and
NOTIFYs every other console. External actuators run after the commit; their
failure is recorded on the state, raised as an alert, and retried idempotently."""
from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timezone
from typing import Literal

from checks.audit import AuditReport, finite_gates, head_signature, link, seal, verify_flag
from checks.models import Actuation, Frozen, ReviewDecision, RolloutAction, RolloutNotice, Verdict
from checks.notices import would_do
from checks.review import is_override, refusal
from checks.rollout import Refusal, RolloutState, Transition, decide

from .actuators import ActuationError, DatabaseActuator
from .audit_key import AuditKey, AuditKeyError, load_key, where_help
from .store import rollout as tables
from .store.db import Store, StoreUnavailable, hash_key, pg_text

log = logging.getLogger("gonogo.rollout")
ACTUATION_LOCK_BASE = 0x61_0000_0000
ORIGIN = f"{socket.gethostname()}:{os.getpid()}"  # lets a console skip the notice of its own action


class ActionResult(Frozen):
    outcome: Literal["done", "refused"]
    action: RolloutAction | Literal["retry", "review"]
    message: str  # what happened or why not, for the screen and the CLI
    from_pct: int | None = None
    to_pct: int | None = None
    version: int | None = None
    override: bool = False
    actuation: Actuation = ""
    actuation_error: str = ""


class RolloutController:
    def __init__(self, store: Store, *, flag: str, steps, soak_for, actuator=None):
        self.store = store
        self.flag = flag
        self.steps = tuple(steps)
        self.soak_for = soak_for
        self.actuator = actuator or DatabaseActuator()
        self._audit_key: AuditKey | None = None  # loaded (or created) at the first action

    async def act(
        self,
        action: RolloutAction,
        *,
        operator: str,
        reason: str,
        verdict: Verdict,
        verdict_why: str = "",
        gates: dict[str, float | None] | None = None,
        expect_version: int | None = None,
        expect_percentage: int | None = None,
        override: bool = False,
        automatic: bool = False,
    ) -> ActionResult:
        reason = reason.strip()
        if not reason:
            return ActionResult(outcome="refused", action=action, message="a reason is required")
        if "\x00" in reason or "\x00" in operator:
            # PostgreSQL text cannot hold it; refused here rather than failing mid-transaction.
            return ActionResult(outcome="refused", action=action,
                                message="a reason or operator name cannot contain a NUL character")
        async with self.store.connection(action=True) as conn:
            async with conn.transaction():
                st, now = await tables.lock_state(conn, self.flag, self.steps[0])
                stale = await self._stale_view(conn, st, expect_version, expect_percentage)
                if stale:
                    return ActionResult(outcome="refused", action=action, message=stale, version=st.version)
                d = decide(action, st, steps=self.steps, soak_seconds=self.soak_for(st.percentage).total_seconds(),
                           verdict=verdict, verdict_why=verdict_why, now=now, override=override)
                if isinstance(d, Refusal):
                    hint = " (an override with a reason would let it through)" if d.overridable else ""
                    return ActionResult(outcome="refused", action=action, message=f"{action} refused: {d.reason}{hint}",
                                        version=st.version)
                key, key_problem = await self._signing_key(conn)
                if key_problem and action != "rollback":  # a rollback is never refused: it is written unsigned
                    return ActionResult(outcome="refused", action=action, message=f"{action} refused: {key_problem}",
                                        version=st.version)
                actuation = "ok" if self.actuator.in_transaction else "pending"
                new = d.new
                await tables.write_state(conn, self.flag, new, operator=operator, now=now, actuation=actuation,
                                         action=action)
                if self.actuator.in_transaction:
                    await self.actuator.apply_in(conn, self.flag, new.percentage)
                event = dict(at=now, flag=self.flag, operator=operator, action=d.action, from_pct=d.from_pct,
                             to_pct=d.to_pct, reason=reason, verdict=verdict.value, gates=finite_gates(gates or {}),
                             automatic=automatic, override=d.override)
                await self._append_event(conn, event, d.new, key=key)
                await tables.notify(conn, RolloutNotice(flag=self.flag, version=new.version, operator=operator,
                                                        action=action, from_pct=d.from_pct, to_pct=d.to_pct,
                                                        automatic=automatic, origin=ORIGIN))
        if key_problem:
            log.warning("%s of %s recorded with an UNSIGNED audit event: %s", action, self.flag, key_problem)
        unsigned = f" — its audit event is NOT signed: {key_problem}" if key_problem else ""
        result = ActionResult(outcome="done", action=action, message=_done_message(d, operator) + unsigned,
                              from_pct=d.from_pct,
                              to_pct=d.to_pct, version=d.new.version, override=d.override, actuation=actuation)
        if not self.actuator.in_transaction:
            result = await self._actuate(result, d.new.percentage, d.from_pct, d.new.version)
        return result

    async def _stale_view(self, conn, st: RolloutState, expect_version, expect_percentage) -> str:
        if expect_version is None and expect_percentage is None:
            return ""
        if expect_version is not None and st.version == expect_version:
            return ""
        if expect_percentage is not None and expect_version is None and st.percentage == expect_percentage:
            return ""
        last = await tables.last_event(conn, self.flag)
        seen = f"version {expect_version}" if expect_version is not None else f"{expect_percentage} %"
        if last:
            who, what, f, t, at = last
            changed = f"{who} did {what} {f} % → {t} % at {at.astimezone(timezone.utc):%H:%M:%S} UTC"
        else:
            changed = "it changed"
        return f"refused: you saw {seen}, but {changed}; it is now at {st.percentage} % ({st.state.replace('_', ' ')})"

    async def _signing_key(self, conn) -> tuple[AuditKey | None, str]:
        """The key this action's event is signed with, or (None, why there is none).
        The key file is created only for a trail that nothing has signed yet: a
        console that lacks the key of a signed trail must not start a key of its own."""
        trail_key = await tables.trail_key_id(conn, self.flag)
        try:
            key = self._audit_key or load_key(create=trail_key is None)
        except AuditKeyError as e:
            return None, f"the audit key cannot be used: {e}"
        if key is None:
            return None, (f"this console has no audit key, but the trail of {self.flag} is signed (key id {trail_key}):"
                          f" give it the key the other consoles use ({where_help()})")
        self._audit_key = key
        if trail_key and key.id != trail_key:
            return None, (f"this console's audit key (id {key.id}, from {key.source}) is not the key that signs the"
                          f" trail of {self.flag} (id {trail_key}): give every console the same key")
        return key, ""

    async def record_review(self, review: ReviewDecision, *, operator: str, verdict: Verdict,
                            gates: dict[str, float | None] | None = None) -> ActionResult:
        """Record a go/no-go decision as an audit event (action "review") on the action
        path: the row locked, the version the reviewer saw compared, the event chained
        and signed, the head (event count) re-signed, every console told. The
        percentage, the state, the soak clock and the version do not move, and no
        actuator runs: the version counts the rollout's changes, and an actuation in
        flight applies only while the version is its own (`_actuate`), which a review
        must not supersede. A GO over a criterion not accepted is refused unless it
        is an override."""
        reason = review.reason.strip()
        texts = [reason, operator, review.present, *(m.note for m in review.criteria), *(m.gate for m in review.criteria)]
        if not reason:
            return ActionResult(outcome="refused", action="review", message="a reason is required")
        if any("\x00" in t for t in texts):
            return ActionResult(outcome="refused", action="review",
                                message="a reason, name or note cannot contain a NUL character")
        if why := refusal(review.decision, review.criteria, override=review.override):
            return ActionResult(outcome="refused", action="review", message=why)
        override = is_override(review.decision, review.criteria)
        async with self.store.connection(action=True) as conn:
            async with conn.transaction():
                st, now = await tables.lock_state(conn, self.flag, self.steps[0])
                stale = await self._stale_view(conn, st, review.seen_version, None)
                if stale:
                    return ActionResult(outcome="refused", action="review", message=stale, version=st.version)
                key, key_problem = await self._signing_key(conn)
                if key_problem:  # a decision is never urgent enough to go unsigned
                    return ActionResult(outcome="refused", action="review",
                                        message=f"review refused: {key_problem}", version=st.version)
                new = st
                event = dict(
                    at=now, flag=self.flag, operator=operator, action="review", from_pct=st.percentage,
                    to_pct=st.percentage, reason=reason, verdict=verdict.value, gates=finite_gates(gates or {}),
                    automatic=False, override=override,
                    review={"decision": review.decision, "present": review.present.strip(),
                            "criteria": [m.model_dump(mode="json") for m in review.criteria]},
                )
                event["review"] = _finite_review(event["review"])
                await self._append_event(conn, event, new, key=key)
                await tables.notify(conn, RolloutNotice(flag=self.flag, version=new.version, operator=operator,
                                                        from_pct=st.percentage, to_pct=st.percentage,
                                                        review=review.decision, origin=ORIGIN))
        ov = " (OVERRIDE)" if override else ""
        return ActionResult(outcome="done", action="review", override=override, version=new.version,
                            from_pct=st.percentage, to_pct=st.percentage,
                            message=f"review recorded: {review.decision}{ov} at {st.percentage} % of {self.flag}"
                                    f" by {operator}")

    async def _append_event(self, conn, event: dict, new: RolloutState, *, key: AuditKey | None) -> None:
        """The event, chained and signed, then the signed head of the state it leaves,
        in the action's transaction."""
        prev = await tables.previous_link(conn, self.flag)
        sealed = seal(key.secret if key else None, prev, event)
        count = await tables.append_event(conn, event, sealed)
        head = dict(flag=self.flag, version=new.version, percentage=new.percentage, state=new.state,
                    stage_started_at=new.stage_started_at, soak_elapsed_s=new.soak_elapsed_s,
                    soak_resumed_at=new.soak_resumed_at, last=link(sealed), count=count)
        await tables.write_head(conn, self.flag, head["last"], count, head_signature(key.secret, head) if key else None)

    async def _actuate(self, result: ActionResult, percentage: int, previous: int, version: int) -> ActionResult:
        """Apply after the commit, one actuation per flag at a time (an advisory lock
        held across it), and only if no newer change was committed meanwhile: that
        one applies its own state, and applying ours after it would undo it."""
        key = f"{self.flag}:{version}"
        lock = ACTUATION_LOCK_BASE + hash_key(self.flag) % 1_000_000
        try:
            async with self.store.connection(action=True) as conn:
                await tables.advisory_lock(conn, lock)
                try:
                    if await tables.current_version(conn, self.flag) != version:
                        return result.model_copy(update={
                            "actuation": "superseded",
                            "message": f"{result.message} — a newer change was made meanwhile and is applied instead",
                        })
                    try:
                        await self.actuator.apply(self.flag, percentage, previous, key)
                    except ActuationError as e:
                        await self._mark(conn, version, "failed", str(e))
                        await self.store.raise_alert(
                            f"rollout:actuation:{self.flag}", "rollout", "critical", "rollout not applied",
                            f"{self.flag} at {percentage} % did not reach the system: {e} (retry with R / gonogo retry)",
                        )
                        return result.model_copy(update={
                            "actuation": "failed", "actuation_error": str(e),
                            "message": f"{result.message} — but it was NOT applied: {e}",
                        })
                    await self._mark(conn, version, "ok", "")
                    await self.store.resolve_alerts([f"rollout:actuation:{self.flag}"])
                    return result.model_copy(update={"actuation": "ok"})
                finally:
                    await tables.advisory_unlock(conn, lock)
        except StoreUnavailable as e:
            # The change is committed (and maybe applied); only its bookkeeping failed.
            # Never report that as "nothing changed": the next start re-applies it.
            return result.model_copy(update={
                "actuation": "pending",
                "message": f"{result.message} — committed, but whether it reached the system is not recorded"
                           f" ({e}); it is re-applied when the database is back",
            })

    async def _mark(self, conn, version: int, actuation: Actuation, error: str) -> None:
        """On the connection that holds the actuation lock (never a second one from
        the small action pool, which a waiting actuation may be holding)."""
        await tables.mark_actuation(conn, self.flag, version, actuation, pg_text(error))
        await tables.notify(conn, RolloutNotice(flag=self.flag, version=version, actuation=actuation))

    async def retry_actuation(self) -> ActionResult:
        """Re-apply the current state (idempotent). Also what a start does after a
        crash left an action committed but not applied."""
        async with self.store.connection(action=True) as conn:
            row = await tables.actuation_of(conn, self.flag)
            if row is None:
                return ActionResult(outcome="refused", action="retry", message="no rollout state yet")
            pct, version, _ = row
            prev = await tables.last_from(conn, self.flag)
            if self.actuator.in_transaction:
                async with conn.transaction():
                    # what is current under the lock, not what was read above
                    pct, version = await tables.lock_percentage(conn, self.flag)
                    await self.actuator.apply_in(conn, self.flag, pct)
                    await tables.mark_actuation(conn, self.flag, version, "ok", "")
                return ActionResult(outcome="done", action="retry", message=f"re-applied {pct} % of {self.flag}",
                                    to_pct=pct, version=version, actuation="ok")
        base = ActionResult(outcome="done", action="retry", message=f"re-applied {pct} % of {self.flag}", to_pct=pct,
                            version=version, actuation="pending")
        return await self._actuate(base, pct, prev if prev is not None else pct, version)

    async def recover(self) -> ActionResult | None:
        """On start: an action committed but never applied (a crash in between) is applied now."""
        async with self.store.connection(action=True) as conn:
            row = await tables.actuation_of(conn, self.flag)
        if row and row[2] == "pending":
            return await self.retry_actuation()
        return None

    async def verify_audit(self, key: AuditKey | None | Literal["load"] = "load") -> AuditReport:
        """Every flag's trail against its rollout state (checks.audit.verify_flag), read
        in one snapshot. The key comes from GONOGO_AUDIT_KEY or the key file, never
        created here; without one, the report says which checks it could not make.
        AuditKeyError: a key is there but unusable."""
        if isinstance(key, str):  # "load"
            key = load_key(create=False)
        async with self.store.connection(action=True) as conn:
            rows, states = await tables.audit_snapshot(conn)
        by_flag: dict[str, list] = {}
        for r in rows:
            by_flag.setdefault(r["flag"], []).append(r)
        flags = [
            # Another flag's steps are not known here: its advances may end soaking or complete.
            verify_flag(flag, by_flag.get(flag, []), states.get(flag), key=key.secret if key else None,
                        first_step=self.steps[0], last_step=self.steps[-1] if flag == self.flag else None)
            for flag in sorted(set(by_flag) | set(states))
        ]
        return AuditReport(flags=flags, keyed=key is not None, key_id=key.id if key else "",
                           key_source=key.source if key else "")


def _finite_review(review: dict) -> dict:
    """A criterion's value as jsonb can hold it: NaN and ±Inf as null."""
    crit = [dict(c, value=finite_gates({"v": c.get("value")})["v"],
                 coverage=finite_gates({"v": c.get("coverage")})["v"]) for c in review["criteria"]]
    return dict(review, criteria=crit)


def _done_message(d: Transition, operator: str) -> str:
    base = {"advance": "advanced", "hold": "held", "resume": "resumed", "rollback": "rolled back"}[d.action]
    ov = " (OVERRIDE)" if d.override else ""
    return f"{base}{ov}: {d.description} by {operator}"


def make_controller(config, store: Store) -> RolloutController:
    """The controller the config asks for (its actuator included)."""
    from .actuators import make_actuator

    return RolloutController(store, flag=config.rollout.flag, steps=config.rollout.steps,
                             soak_for=config.rollout.soak_for, actuator=make_actuator(config))


def preview(action: RolloutAction, snapshot, config, now: datetime) -> Transition | Refusal:
    """What `action` would do on what is on screen (the dialog shows it before the
    operator types a reason). The controller decides again, under a lock, on commit.
    The banner's "advance allowed" asks the same function (checks.notices.would_do)."""
    return would_do(action, snapshot.rollout, snapshot.verdict, now, verdict_why="; ".join(snapshot.reasons))
