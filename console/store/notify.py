"""The webhooks' outbox ([[notify]], migration 11): the events the leader finds, the
rows it enqueues and claims, and what became of each send.

Once per event and webhook: an event's key comes from the row it is read from, and
`(webhook, event_key)` is the outbox's primary key, so enqueueing is
`insert ... on conflict do nothing` and any leader may enqueue the same event again.
A leader claims a due row before it sends, by moving `next_at` past the send's
timeout in the same statement that picks it (`for update skip locked`): a second
process never picks a row in flight, and a row whose sender died is due again once
its lease ends. A send that reached the receiver just before its sender died is sent
again then: at least once in that moment, exactly once otherwise.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from checks.models import NotifyEvent
from checks.notices import ACTUATION_PREFIX, AUTO_ROLLBACK_PREFIX, CRITICAL_SEVERITIES


class OutboxRow(NamedTuple):
    webhook: str
    event_key: str
    kind: str
    body: dict
    attempts: int  # counting the one just claimed


class OutboxEntry(NamedTuple):
    """A row as a test or `status` reads it."""

    webhook: str
    event_key: str
    kind: str
    body: dict
    attempts: int
    next_at: datetime | None
    sent_at: datetime | None
    last_status: int | None
    last_error: str


# One round trip for every kind of event since `since`: the flag's audit rows (an
# automatic rollback, a review, any other action), critical alert episodes that
# began or ended (the rollout's own alerts are told as auto_rollback and
# actuator_failure, not twice), and the rollout's version whose change did not
# reach the system. A review's decision is read through to_jsonb so this does not
# depend on the review column's migration having a given shape.
_EVENTS_SQL = """
select 'audit', e.id::text, e.at, e.operator, e.action, e.from_pct, e.to_pct, e.reason, e.automatic, e.override,
       coalesce(to_jsonb(e) -> 'review' ->> 'decision', e.verdict), '', '', '', null::timestamptz, null::timestamptz,
       ''
  from gonogo.rollout_events e where e.flag = %(flag)s and e.at >= %(since)s
union all
select 'opened', a.fingerprint, a.first_at, '', '', null, null, '', false, false, '', a.severity, a.name, a.summary,
       a.first_at, null, a.source
  from gonogo.alerts a where a.first_at >= %(since)s and lower(a.severity) = any(%(critical)s)
   and not starts_with(a.fingerprint, %(auto)s) and not starts_with(a.fingerprint, %(actuation)s)
union all
select 'resolved', a.fingerprint, a.resolved_at, '', '', null, null, '', false, false, '', a.severity, a.name,
       a.summary, a.first_at, a.resolved_at, a.source
  from gonogo.alerts a where a.resolved_at >= %(since)s and lower(a.severity) = any(%(critical)s)
   and not starts_with(a.fingerprint, %(auto)s) and not starts_with(a.fingerprint, %(actuation)s)
union all
select 'actuation', s.version::text, s.updated_at, s.updated_by, s.last_action, null, s.percentage, '', false, false,
       '', 'critical', 'rollout not applied', s.actuation_error, null, null, 'rollout'
  from gonogo.rollout_state s where s.flag = %(flag)s and s.actuation = 'failed' and s.updated_at >= %(since)s
"""


def _utc(t: datetime) -> str:
    # A key must not depend on the session's time zone, which spells the same instant differently.
    return t.astimezone(timezone.utc).isoformat()


def _event(flag: str, row) -> NotifyEvent:
    (src, ident, at, operator, action, from_pct, to_pct, reason, automatic, override, verdict, severity, name,
     summary, first_at, resolved_at, source) = row
    if src == "audit":
        kind = ("review_decision" if action == "review"
                else "auto_rollback" if automatic and action == "rollback" else "rollout_action")
        return NotifyEvent(key=f"audit:{flag}:{ident}", kind=kind, at=at, flag=flag, action=action, from_pct=from_pct,
                           to_pct=to_pct, operator=operator, reason=reason, automatic=automatic, override=override,
                           verdict=verdict or "")
    if src == "actuation":
        return NotifyEvent(key=f"actuation_failed:{flag}:{ident}", kind="actuator_failure", at=at, flag=flag,
                           action=action, to_pct=to_pct, operator=operator, severity=severity, name=name,
                           summary=summary, source=source)
    episode = f"{ident}@{_utc(first_at)}"
    if src == "opened":
        return NotifyEvent(key=f"alert_opened:{episode}", kind="critical_alert_opened", at=at, flag=flag,
                           severity=severity, name=name, summary=summary, source=source)
    return NotifyEvent(key=f"alert_resolved:{episode}/{_utc(resolved_at)}", kind="critical_alert_resolved", at=at,
                       flag=flag, severity=severity, name=name, summary=summary, source=source)


class NotifyTables:
    """The outbox's statements (mixed into console.store.db.Store)."""

    async def notify_register(self, webhooks: Sequence[str]) -> dict[str, datetime]:
        """Each webhook's first sighting (now, for one never seen): its events start there."""
        async with self.connection() as conn:
            await conn.execute(
                "insert into gonogo.notify_webhooks (webhook) select unnest(%s::text[]) on conflict do nothing",
                (list(webhooks),))
            cur = await conn.execute("select webhook, since from gonogo.notify_webhooks where webhook = any(%s)",
                                     (list(webhooks),))
            return dict(await cur.fetchall())

    async def notify_events(self, flag: str, since: datetime) -> list[NotifyEvent]:
        """Every event of `flag` (and every critical alert episode) at or after `since`, oldest first."""
        async with self.connection() as conn:
            cur = await conn.execute(_EVENTS_SQL, {
                "flag": flag, "since": since, "critical": sorted(CRITICAL_SEVERITIES),
                "auto": AUTO_ROLLBACK_PREFIX, "actuation": ACTUATION_PREFIX})
            rows = await cur.fetchall()
        return sorted((_event(flag, r) for r in rows), key=lambda e: e.at)

    async def notify_enqueue(self, rows: Sequence[tuple[str, NotifyEvent, dict]]) -> int:
        """(webhook, event, body) rows; an event already in the outbox for that webhook is
        left as it is. Returns how many were new."""
        if not rows:
            return 0
        async with self.connection() as conn:
            cur = await conn.execute(
                "insert into gonogo.notify_outbox (webhook, event_key, kind, event_at, body)"
                " select * from unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::jsonb[])"
                " on conflict do nothing",
                ([w for w, _, _ in rows], [e.key for _, e, _ in rows], [e.kind for _, e, _ in rows],
                 [e.at for _, e, _ in rows], [json.dumps(b, allow_nan=False) for _, _, b in rows]))
            return cur.rowcount

    async def notify_claim(self, webhooks: Sequence[str], limit: int, lease: timedelta) -> list[OutboxRow]:
        """Up to `limit` due rows of these webhooks, oldest due first, each claimed for
        `lease` (its attempt counted now: a sender that dies mid-send has used it)."""
        if limit <= 0 or not webhooks:
            return []
        async with self.connection() as conn:
            cur = await conn.execute(
                "update gonogo.notify_outbox o set attempts = o.attempts + 1, next_at = now() + %s"
                " from (select webhook, event_key from gonogo.notify_outbox"
                "       where next_at <= now() and webhook = any(%s) order by next_at limit %s"
                "       for update skip locked) due"
                " where o.webhook = due.webhook and o.event_key = due.event_key"
                " returning o.webhook, o.event_key, o.kind, o.body, o.attempts",
                (lease, list(webhooks), limit))
            return [OutboxRow(*r) for r in await cur.fetchall()]

    async def notify_sent(self, webhook: str, event_key: str, status: int) -> None:
        async with self.connection() as conn:
            await conn.execute(
                "update gonogo.notify_outbox set sent_at = now(), next_at = null, last_status = %s, last_error = ''"
                " where webhook = %s and event_key = %s", (status, webhook, event_key))

    async def notify_failed(self, webhook: str, event_key: str, status: int | None, error: str,
                            retry_in: timedelta | None) -> None:
        """A failed attempt: due again in `retry_in`, or (None) given up, the row kept
        with its last error."""
        async with self.connection() as conn:
            await conn.execute(
                "update gonogo.notify_outbox set last_status = %s, last_error = %s,"
                " next_at = case when %s::interval is null then null else now() + %s::interval end"
                " where webhook = %s and event_key = %s",
                (status, error.replace("\x00", "\\x00"), retry_in, retry_in, webhook, event_key))

    async def notify_outbox(self, webhook: str | None = None) -> list[OutboxEntry]:
        """The outbox, oldest first (tests; what an operator would ask of it)."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "select webhook, event_key, kind, body, attempts, next_at, sent_at, last_status, last_error"
                " from gonogo.notify_outbox where %s::text is null or webhook = %s order by created_at, event_key",
                (webhook, webhook))
            return [OutboxEntry(*r) for r in await cur.fetchall()]

    async def notify_prune(self, keep: timedelta) -> None:
        """Rows sent or given up longer ago than `keep` (more than the leader's look-back,
        or an event would be found and enqueued again)."""
        async with self.connection() as conn:
            await conn.execute(
                "delete from gonogo.notify_outbox where next_at is null and created_at < now() - %s", (keep,))
