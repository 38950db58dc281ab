"""The rollout tables: state (one row per flag), the append-only audit trail, the
default actuator's flag table, and the NOTIFY that tells every console.

The RolloutController (console/rollout.py) holds the transaction and decides; these
functions are the statements it runs, each on the connection it is given, so the
lock, the checks, the write, the audit event and the NOTIFY stay in one transaction.
`RolloutTables` holds the reads a screen or a command makes: they write nothing.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from checks.models import AuditEvent, CriterionMark, RolloutAction, RolloutNotice, RolloutView, ReviewRecord
from checks.rollout import RolloutState

CHANNEL = "gonogo_rollout"

_STATE_COLUMNS = (
    "percentage, state, version, stage_started_at, soak_elapsed_s, soak_resumed_at, updated_by, updated_at"
)


async def ensure_rollout_state(conn, flag: str, first_step: int) -> None:
    """A flag never acted on starts idle at the first step, version 1."""
    await conn.execute(
        "insert into gonogo.rollout_state (flag, percentage, state, version)"
        " values (%s, %s, 'idle', 1) on conflict (flag) do nothing",
        (flag, first_step),
    )


async def lock_state(conn, flag: str, first_step: int) -> tuple[RolloutState, datetime]:
    """The flag's state, locked for this transaction, and the database's time now."""
    await ensure_rollout_state(conn, flag, first_step)
    cur = await conn.execute(
        f"select {_STATE_COLUMNS}, clock_timestamp() from gonogo.rollout_state where flag = %s for update", (flag,))
    pct, state, version, started, elapsed, resumed, by, at, now = await cur.fetchone()
    return RolloutState(flag=flag, percentage=pct, state=state, version=version, stage_started_at=started,
                        soak_elapsed_s=elapsed, soak_resumed_at=resumed, updated_by=by, updated_at=at), now


async def write_state(conn, flag: str, new: RolloutState, *, operator: str, now: datetime, actuation: str,
                      action: RolloutAction) -> None:
    await conn.execute(
        "update gonogo.rollout_state set percentage = %s, state = %s, version = %s, stage_started_at = %s,"
        " soak_elapsed_s = %s, soak_resumed_at = %s, updated_by = %s, updated_at = %s,"
        " actuation = %s, actuation_error = '', last_action = %s where flag = %s",
        (new.percentage, new.state, new.version, new.stage_started_at, new.soak_elapsed_s,
         new.soak_resumed_at, operator, now, actuation, action, flag),
    )


async def last_event(conn, flag: str) -> tuple | None:
    """(operator, action, from, to, at) of the flag's newest event."""
    cur = await conn.execute(
        "select operator, action, from_pct, to_pct, at from gonogo.rollout_events where flag = %s"
        " order by id desc limit 1", (flag,))
    return await cur.fetchone()


async def trail_key_id(conn, flag: str) -> str | None:
    """The id of the key that signed the flag's first signed event (None: unsigned so far)."""
    cur = await conn.execute(
        "select key_id from gonogo.rollout_events where flag = %s and key_id is not null order by id limit 1",
        (flag,))
    row = await cur.fetchone()
    return row[0] if row else None


async def previous_link(conn, flag: str) -> dict | None:
    """The newest event's hash and signature, which the next event chains to."""
    cur = await conn.execute(
        "select hash, sig from gonogo.rollout_events where flag = %s order by id desc limit 1", (flag,))
    prev = await cur.fetchone()
    return {"hash": prev[0], "sig": prev[1]} if prev else None


async def append_event(conn, event: dict, sealed: dict) -> int:
    """Append the sealed event; returns the flag's number of events. `review` (a
    go/no-go review's decision and marks) is null for every other event."""
    review = event.get("review")
    await conn.execute(
        "insert into gonogo.rollout_events (at, flag, operator, action, from_pct, to_pct, reason, verdict, gates,"
        " automatic, override, prev_hash, hash, sig, key_id, review)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s::jsonb)",
        (event["at"], event["flag"], event["operator"], event["action"], event["from_pct"], event["to_pct"],
         event["reason"], event["verdict"], json.dumps(event["gates"], allow_nan=False), event["automatic"],
         event["override"], sealed["prev_hash"], sealed["hash"], sealed["sig"], sealed["key_id"],
         None if review is None else json.dumps(review, allow_nan=False)),
    )
    cur = await conn.execute("select count(*) from gonogo.rollout_events where flag = %s", (event["flag"],))
    return (await cur.fetchone())[0]


async def write_head(conn, flag: str, head: str, count: int, signature: str | None) -> None:
    await conn.execute(
        "update gonogo.rollout_state set audit_head = %s, audit_count = %s, audit_sig = %s where flag = %s",
        (head, count, signature, flag))


async def notify(conn, notice: RolloutNotice) -> None:
    """Tell every console, at commit (the engine's LISTEN loop validates it back)."""
    await conn.execute("select pg_notify(%s, %s)", (CHANNEL, notice.model_dump_json(exclude_defaults=True)))


async def listen(conn) -> None:
    """Hear every rollout change (console/engine: a change re-evaluates at once)."""
    await conn.execute(f"listen {CHANNEL}")


async def current_version(conn, flag: str) -> int:
    cur = await conn.execute("select version from gonogo.rollout_state where flag = %s", (flag,))
    return (await cur.fetchone())[0]


async def mark_actuation(conn, flag: str, version: int, actuation: str, error: str) -> None:
    await conn.execute(
        "update gonogo.rollout_state set actuation = %s, actuation_error = %s where flag = %s and version = %s",
        (actuation, error, flag, version))


async def actuation_of(conn, flag: str) -> tuple[int, int, str] | None:
    """(percentage, version, actuation) of the flag, None before its first action."""
    cur = await conn.execute("select percentage, version, actuation from gonogo.rollout_state where flag = %s",
                             (flag,))
    return await cur.fetchone()


async def lock_percentage(conn, flag: str) -> tuple[int, int]:
    """(percentage, version), locked for this transaction."""
    cur = await conn.execute("select percentage, version from gonogo.rollout_state where flag = %s for update",
                             (flag,))
    return await cur.fetchone()


async def last_from(conn, flag: str) -> int | None:
    cur = await conn.execute(
        "select from_pct from gonogo.rollout_events where flag = %s order by id desc limit 1", (flag,))
    row = await cur.fetchone()
    return row[0] if row else None


async def advisory_lock(conn, lock: int) -> None:
    await conn.execute("select pg_advisory_lock(%s)", (lock,))


async def advisory_unlock(conn, lock: int) -> None:
    await conn.execute("select pg_advisory_unlock(%s)", (lock,))


async def audit_snapshot(conn) -> tuple[list[dict], dict[str, dict]]:
    """Every event (by flag, oldest first) and every flag's state, read in one
    repeatable-read, read-only transaction (audit verify replays one against the other)."""
    async with conn.transaction():
        await conn.execute("set transaction isolation level repeatable read, read only")
        cur = await conn.execute(
            "select id, at, flag, operator, action, from_pct, to_pct, reason, verdict, gates, automatic,"
            " override, prev_hash, hash, sig, key_id, review from gonogo.rollout_events order by flag, id")
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, r)) for r in await cur.fetchall()]
        cur = await conn.execute(
            "select flag, percentage, state, version, stage_started_at, soak_elapsed_s, soak_resumed_at,"
            " audit_head, audit_count, audit_sig from gonogo.rollout_state")
        names = [c.name for c in cur.description]
        states = {r[0]: dict(zip(names, r)) for r in await cur.fetchall()}
    return rows, states


async def set_feature_flag(conn, table: str, flag: str, percentage: int) -> None:
    """The default actuator: the flag's row in a feature-flag table (gonogo.feature_flags
    unless configured), written in the rollout's own transaction."""
    from psycopg import sql

    await conn.execute(
        sql.SQL(
            "insert into {} (flag, enabled, rollout_percentage, updated_at) values (%s, %s, %s, now())"
            " on conflict (flag) do update set enabled = excluded.enabled,"
            " rollout_percentage = excluded.rollout_percentage, updated_at = now()"
        ).format(sql.Identifier(*table.split("."))),
        (flag, percentage > 0, percentage),
    )


class RolloutTables:
    """The rollout reads of the Store (mixed into console.store.db.Store)."""

    async def rollout_view(self, flag: str, steps: Sequence[int], soak_for) -> RolloutView:
        async with self.connection() as conn:
            # A read writes nothing (every console reads this every second): a flag never
            # acted on reads as what ensure_rollout_state() will create at the first action.
            cur = await conn.execute(
                "select percentage, state, version, stage_started_at, soak_elapsed_s"
                " + coalesce(extract(epoch from now() - soak_resumed_at), 0), now(), updated_by,"
                " actuation, actuation_error from gonogo.rollout_state where flag = %s",
                (flag,),
            )
            row = await cur.fetchone()
            if row is None:
                now = (await (await conn.execute("select now()")).fetchone())[0]
                row = (steps[0], "idle", 1, None, 0.0, now, "", "ok", "")
            pct, state, version, started, elapsed, now, by, actuation, actuation_error = row
        return RolloutView(
            flag=flag,
            steps=tuple(steps),
            percentage=pct,
            state=state,
            version=version,
            stage_started_at=started,
            soak_seconds=soak_for(pct).total_seconds(),
            soak_elapsed_seconds=float(elapsed or 0),
            as_of=now,
            updated_by=by,
            actuation=actuation,
            actuation_error=actuation_error,
        )

    async def last_auto_rollback(self, flag: str) -> AuditEvent | None:
        """The newest automatic rollback of `flag` (the banner's AUTO-ROLLED BACK line),
        read backwards along rollout_events_flag."""
        async with self.connection() as conn:
            cur = await conn.execute(
                f"select {_AUDIT_COLUMNS} from gonogo.rollout_events where flag = %s and automatic"
                " and action = 'rollback' order by id desc limit 1",
                (flag,),
            )
            row = await cur.fetchone()
        return None if row is None else _audit_event(row)

    async def rollout_history(self, flag: str, *, reviews: bool = False,
                              since: datetime | None = None) -> list[AuditEvent]:
        """The audit trail, oldest first: the rollout's actions (DESIGN.md's four, what
        `gonogo status --json` lists), and with `reviews` the go/no-go reviews too;
        with `since`, only the events after it (the chart's window)."""
        async with self.connection() as conn:
            cur = await conn.execute(
                f"select {_AUDIT_COLUMNS} from gonogo.rollout_events where flag = %s"
                " and (%s or action <> 'review') and (%s::timestamptz is null or at > %s) order by id",
                (flag, reviews, since, since))
            return [_audit_event(row) for row in await cur.fetchall()]

    async def reviews(self, flag: str, until: datetime | None = None) -> list[ReviewRecord]:
        """The go/no-go reviews of `flag` recorded at or before `until` (None: all),
        oldest first: what a report for a past moment holds."""
        async with self.connection() as conn:
            cur = await conn.execute(
                f"select {_AUDIT_COLUMNS} from gonogo.rollout_events where flag = %s and action = 'review'"
                " and (%s::timestamptz is null or at <= %s) order by id", (flag, until, until))
            found = [_audit_event(row).review for row in await cur.fetchall()]
        return [r for r in found if r is not None]

    async def latest_review(self, flag: str, until: datetime | None = None) -> ReviewRecord | None:
        """The newest review of `flag` at or before `until` (None: the newest of all)."""
        async with self.connection() as conn:
            cur = await conn.execute(
                f"select {_AUDIT_COLUMNS} from gonogo.rollout_events where flag = %s and action = 'review'"
                " and (%s::timestamptz is null or at <= %s) order by id desc limit 1", (flag, until, until))
            row = await cur.fetchone()
        return None if row is None else _audit_event(row).review


_AUDIT_COLUMNS = "at, operator, action, from_pct, to_pct, reason, automatic, override, verdict, id, review"


def _audit_event(row) -> AuditEvent:
    at, op, action, f, t, reason, auto, ovr, verdict, event_id, review = row
    record = None
    if action == "review" and review is not None:
        record = ReviewRecord(
            id=event_id, at=at, operator=op, decision=review["decision"], reason=reason,
            present=review.get("present", ""), override=ovr, verdict=verdict, percentage=t,
            criteria=tuple(CriterionMark.model_validate(c) for c in review.get("criteria", ())),
        )
    return AuditEvent(at=at, operator=op, action=action, from_pct=f, to_pct=t, reason=reason, automatic=auto,
                      override=ovr, verdict=verdict, review=record)
