"""The RolloutController: the only way the rollout changes. Keys, the CLI and
auto-rollback all call `act`, which in one transaction locks the rollout row,
compares the version the operator saw, decides (checks.rollout), applies, bumps the
version, appends the audit event (hash-chained and signed with the audit key,
console/audit_key.py) and signs the new head, applies a database actuator, and
NOTIFYs every other console. External actuators run after the commit; their
failure is recorded on the state, raised as an alert, and retried idempotently."""
from __future__ import annotations

import json
import logging
import os
import socket
from datetime import datetime, timezone
from typing import Literal

from checks.audit import AuditReport, finite_gates, head_signature, link, seal, verify_flag
from checks.models import Frozen, Verdict
from checks.rollout import Action, Refusal, RolloutState, Transition, decide

from .actuators import ActuationError, DatabaseActuator
from .audit_key import AuditKey, AuditKeyError, load_key, where_help
from .store.db import Store, StoreUnavailable, ensure_rollout_state, hash_key, pg_text

log = logging.getLogger("gonogo.rollout")
ACTUATION_LOCK_BASE = 0x61_0000_0000
CHANNEL = "gonogo_rollout"
ORIGIN = f"{socket.gethostname()}:{os.getpid()}"  # lets a console skip the notice of its own action


class ActionResult(Frozen):
    outcome: Literal["done", "refused"]
    action: str
    message: str  # what happened or why not, for the screen and the CLI
    from_pct: int | None = None
    to_pct: int | None = None
    version: int | None = None
    override: bool = False
    actuation: Literal["ok", "pending", "failed", "superseded", ""] = ""
    actuation_error: str = ""


_STATE_COLUMNS = (
    "percentage, state, version, stage_started_at, soak_elapsed_s, soak_resumed_at, updated_by, updated_at,"
    " actuation, actuation_error"
)


def _state(flag: str, row) -> RolloutState:
    pct, state, version, started, elapsed, resumed, by, at, _, _ = row
    return RolloutState(flag=flag, percentage=pct, state=state, version=version, stage_started_at=started,
                        soak_elapsed_s=elapsed, soak_resumed_at=resumed, updated_by=by, updated_at=at)


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
        action: Action,
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
                await ensure_rollout_state(conn, self.flag, self.steps[0])
                cur = await conn.execute(
                    f"select {_STATE_COLUMNS}, clock_timestamp() from gonogo.rollout_state where flag = %s for update",
                    (self.flag,),
                )
                row = await cur.fetchone()
                now: datetime = row[-1]
                st = _state(self.flag, row[:-1])
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
                await conn.execute(
                    "update gonogo.rollout_state set percentage = %s, state = %s, version = %s, stage_started_at = %s,"
                    " soak_elapsed_s = %s, soak_resumed_at = %s, updated_by = %s, updated_at = %s,"
                    " actuation = %s, actuation_error = '', last_action = %s where flag = %s",
                    (new.percentage, new.state, new.version, new.stage_started_at, new.soak_elapsed_s,
                     new.soak_resumed_at, operator, now, actuation, action, self.flag),
                )
                if self.actuator.in_transaction:
                    await self.actuator.apply_in(conn, self.flag, new.percentage)
                await self._append_event(conn, d, now=now, operator=operator, reason=reason, verdict=verdict,
                                         gates=gates or {}, automatic=automatic, key=key)
                await conn.execute(
                    "select pg_notify(%s, %s)",
                    (CHANNEL, json.dumps({"flag": self.flag, "version": new.version, "operator": operator,
                                          "action": action, "from": d.from_pct, "to": d.to_pct,
                                          "automatic": automatic, "origin": ORIGIN})),
                )
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
        cur = await conn.execute(
            "select operator, action, from_pct, to_pct, at from gonogo.rollout_events where flag = %s"
            " order by id desc limit 1",
            (self.flag,),
        )
        last = await cur.fetchone()
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
        cur = await conn.execute(
            "select key_id from gonogo.rollout_events where flag = %s and key_id is not null order by id limit 1",
            (self.flag,),
        )
        row = await cur.fetchone()
        trail_key = row[0] if row else None
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

    async def _append_event(self, conn, d: Transition, *, now, operator, reason, verdict, gates, automatic,
                            key: AuditKey | None) -> None:
        """The event, chained and signed, then the signed head, in the action's transaction."""
        cur = await conn.execute(
            "select hash, sig from gonogo.rollout_events where flag = %s order by id desc limit 1", (self.flag,)
        )
        prev = await cur.fetchone()
        gates = finite_gates(gates)
        event = dict(at=now, flag=self.flag, operator=operator, action=d.action, from_pct=d.from_pct,
                     to_pct=d.to_pct, reason=reason, verdict=verdict.value, gates=gates, automatic=automatic,
                     override=d.override)
        sealed = seal(key.secret if key else None, {"hash": prev[0], "sig": prev[1]} if prev else None, event)
        await conn.execute(
            "insert into gonogo.rollout_events (at, flag, operator, action, from_pct, to_pct, reason, verdict, gates,"
            " automatic, override, prev_hash, hash, sig, key_id)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s)",
            (now, self.flag, operator, d.action, d.from_pct, d.to_pct, reason, verdict.value,
             json.dumps(gates, allow_nan=False), automatic, d.override, sealed["prev_hash"], sealed["hash"],
             sealed["sig"], sealed["key_id"]),
        )
        cur = await conn.execute("select count(*) from gonogo.rollout_events where flag = %s", (self.flag,))
        count = (await cur.fetchone())[0]
        new = d.new
        head = dict(flag=self.flag, version=new.version, percentage=new.percentage, state=new.state,
                    stage_started_at=new.stage_started_at, soak_elapsed_s=new.soak_elapsed_s,
                    soak_resumed_at=new.soak_resumed_at, last=link(sealed), count=count)
        await conn.execute(
            "update gonogo.rollout_state set audit_head = %s, audit_count = %s, audit_sig = %s where flag = %s",
            (head["last"], count, head_signature(key.secret, head) if key else None, self.flag),
        )

    async def _actuate(self, result: ActionResult, percentage: int, previous: int, version: int) -> ActionResult:
        """Apply after the commit, one actuation per flag at a time (an advisory lock
        held across it), and only if no newer change was committed meanwhile: that
        one applies its own state, and applying ours after it would undo it."""
        key = f"{self.flag}:{version}"
        lock = ACTUATION_LOCK_BASE + hash_key(self.flag) % 1_000_000
        try:
            async with self.store.connection(action=True) as conn:
                await conn.execute("select pg_advisory_lock(%s)", (lock,))
                try:
                    cur = await conn.execute("select version from gonogo.rollout_state where flag = %s", (self.flag,))
                    if (await cur.fetchone())[0] != version:
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
                    await conn.execute("select pg_advisory_unlock(%s)", (lock,))
        except StoreUnavailable as e:
            # The change is committed (and maybe applied); only its bookkeeping failed.
            # Never report that as "nothing changed": the next start re-applies it.
            return result.model_copy(update={
                "actuation": "pending",
                "message": f"{result.message} — committed, but whether it reached the system is not recorded"
                           f" ({e}); it is re-applied when the database is back",
            })

    async def _mark(self, conn, version: int, actuation: str, error: str) -> None:
        """On the connection that holds the actuation lock (never a second one from
        the small action pool, which a waiting actuation may be holding)."""
        await conn.execute(
            "update gonogo.rollout_state set actuation = %s, actuation_error = %s where flag = %s and version = %s",
            (actuation, pg_text(error), self.flag, version),
        )
        await conn.execute("select pg_notify(%s, %s)", (CHANNEL, json.dumps({"flag": self.flag, "version": version,
                                                                             "actuation": actuation})))

    async def retry_actuation(self) -> ActionResult:
        """Re-apply the current state (idempotent). Also what a start does after a
        crash left an action committed but not applied."""
        async with self.store.connection(action=True) as conn:
            cur = await conn.execute(
                "select percentage, version, actuation from gonogo.rollout_state where flag = %s", (self.flag,)
            )
            row = await cur.fetchone()
            if row is None:
                return ActionResult(outcome="refused", action="retry", message="no rollout state yet")
            pct, version, _ = row
            cur = await conn.execute(
                "select from_pct from gonogo.rollout_events where flag = %s order by id desc limit 1", (self.flag,)
            )
            prev = await cur.fetchone()
            if self.actuator.in_transaction:
                async with conn.transaction():
                    cur = await conn.execute(
                        "select percentage, version from gonogo.rollout_state where flag = %s for update", (self.flag,))
                    pct, version = await cur.fetchone()  # what is current under the lock, not what was read above
                    await self.actuator.apply_in(conn, self.flag, pct)
                    await conn.execute("update gonogo.rollout_state set actuation = 'ok', actuation_error = ''"
                                       " where flag = %s and version = %s", (self.flag, version))
                return ActionResult(outcome="done", action="retry", message=f"re-applied {pct} % of {self.flag}",
                                    to_pct=pct, version=version, actuation="ok")
        base = ActionResult(outcome="done", action="retry", message=f"re-applied {pct} % of {self.flag}", to_pct=pct,
                            version=version, actuation="pending")
        return await self._actuate(base, pct, prev[0] if prev else pct, version)

    async def recover(self) -> ActionResult | None:
        """On start: an action committed but never applied (a crash in between) is applied now."""
        async with self.store.connection(action=True) as conn:
            cur = await conn.execute("select actuation from gonogo.rollout_state where flag = %s", (self.flag,))
            row = await cur.fetchone()
        if row and row[0] == "pending":
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
            async with conn.transaction():
                await conn.execute("set transaction isolation level repeatable read, read only")
                cur = await conn.execute(
                    "select id, at, flag, operator, action, from_pct, to_pct, reason, verdict, gates, automatic,"
                    " override, prev_hash, hash, sig, key_id from gonogo.rollout_events order by flag, id"
                )
                names = [c.name for c in cur.description]
                rows = [dict(zip(names, r)) for r in await cur.fetchall()]
                cur = await conn.execute(
                    "select flag, percentage, state, version, stage_started_at, soak_elapsed_s, soak_resumed_at,"
                    " audit_head, audit_count, audit_sig from gonogo.rollout_state"
                )
                names = [c.name for c in cur.description]
                states = {r[0]: dict(zip(names, r)) for r in await cur.fetchall()}
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


def _done_message(d: Transition, operator: str) -> str:
    base = {"advance": "advanced", "hold": "held", "resume": "resumed", "rollback": "rolled back"}[d.action]
    ov = " (OVERRIDE)" if d.override else ""
    return f"{base}{ov}: {d.description} by {operator}"


def make_controller(config, store: Store) -> RolloutController:
    """The controller the config asks for (its actuator included)."""
    from .actuators import make_actuator

    return RolloutController(store, flag=config.rollout.flag, steps=config.rollout.steps,
                             soak_for=config.rollout.soak_for, actuator=make_actuator(config))


def preview(action: Action, snapshot, config, now: datetime) -> Transition | Refusal:
    """What `action` would do on what is on screen (the dialog shows it before the
    operator types a reason). The controller decides again, under a lock, on commit."""
    v = snapshot.rollout
    elapsed = v.soak_elapsed_seconds
    if v.state == "soaking" and v.as_of is not None:
        elapsed += max(0.0, (now - v.as_of).total_seconds())
    st = RolloutState(flag=v.flag, percentage=v.percentage, state=v.state, version=v.version,
                      stage_started_at=v.stage_started_at, soak_elapsed_s=elapsed, soak_resumed_at=None)
    return decide(action, st, steps=config.rollout.steps, soak_seconds=v.soak_seconds, verdict=snapshot.verdict,
                  verdict_why="; ".join(snapshot.reasons), now=now, override=False)
