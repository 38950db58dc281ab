"""The alerts: raised (an episode begins or goes on), resolved, acknowledged, and
read for the feed and an alert's detail. Each change is written to gonogo.alerts,
which the live feed reads, and to gonogo.alert_episodes, one row per episode, which
the report reads as the alerts stood at a moment (migration 13), in one transaction."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from psycopg.types.json import Jsonb

from checks.models import Alert, AlertDetail
from checks.notices import CRITICAL_SEVERITIES


class AlertTables:
    """The alerts of the Store (mixed into console.store.db.Store)."""

    async def raise_alert(self, fingerprint: str, source: str, severity: str, name: str, summary: str,
                          at: datetime | None = None, *, labels: Mapping[str, str] | None = None,
                          labels_left_out: int = 0) -> None:
        """Open (or keep open) the alert `fingerprint`. A new episode begins, with a new
        first_at and no acknowledgement, when it was resolved, or when it turns
        critical from a lesser severity (a gate red, yellow, red again): an ack given
        to the last episode must not silence this one (checks.notices rings once per
        episode). The episode is written to gonogo.alert_episodes in the same
        transaction (see migration 13)."""
        # db.py mixes this family into the Store, so its names are imported when called.
        from .db import pg_text

        fingerprint, source, severity, name, summary = map(pg_text, (fingerprint, source, severity, name, summary))
        # PostgreSQL's json cannot hold NUL either: written as the screen shows it.
        kept = Jsonb({pg_text(k): pg_text(v) for k, v in (labels or {}).items()})
        async with self.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "insert into gonogo.alerts (fingerprint, source, severity, name, summary, first_at, last_at, labels,"
                " labels_left_out) values (%(fp)s, %(source)s, %(severity)s, %(name)s, %(summary)s,"
                " coalesce(%(at)s, now()), coalesce(%(at)s, now()), %(labels)s, %(left_out)s)"
                " on conflict (fingerprint) do update set severity = excluded.severity, summary = excluded.summary,"
                "  name = excluded.name, labels = excluded.labels, labels_left_out = excluded.labels_left_out,"
                "  last_at = case when gonogo.alerts.resolved_at is null then gonogo.alerts.last_at else excluded.last_at end,"
                "  first_at = case when gonogo.alerts.resolved_at is not null then excluded.first_at"
                "   when lower(excluded.severity) = any(%(loud)s) and lower(gonogo.alerts.severity) <> all(%(loud)s)"
                "   then now() else gonogo.alerts.first_at end,"
                "  acked_at = case when gonogo.alerts.resolved_at is null and (lower(excluded.severity) <> all(%(loud)s)"
                "   or lower(gonogo.alerts.severity) = any(%(loud)s)) then gonogo.alerts.acked_at end,"
                "  acked_by = case when gonogo.alerts.resolved_at is null and (lower(excluded.severity) <> all(%(loud)s)"
                "   or lower(gonogo.alerts.severity) = any(%(loud)s)) then gonogo.alerts.acked_by end,"
                "  resolved_at = null"
                " returning first_at",
                {"fp": fingerprint, "source": source, "severity": severity, "name": name, "summary": summary, "at": at,
                 "labels": kept, "left_out": labels_left_out, "loud": sorted(CRITICAL_SEVERITIES)},
            )
            (first_at,) = await cur.fetchone()
            # The alert's row is locked until commit, so this statement (a snapshot of
            # its own, taken after the lock) sees every episode of the fingerprint. The
            # episode open with this first_at goes on; any other open one ended when
            # this one began (it turned critical); with none, this one begins.
            await conn.execute(
                "with ended as ("
                " update gonogo.alert_episodes set resolved_at = %(first)s"
                " where fingerprint = %(fp)s and resolved_at is null and first_at <> %(first)s)"
                " insert into gonogo.alert_episodes (fingerprint, source, severity, name, summary, first_at)"
                " select %(fp)s, %(source)s, %(severity)s, %(name)s, %(summary)s, %(first)s"
                " where not exists (select 1 from gonogo.alert_episodes"
                "  where fingerprint = %(fp)s and first_at = %(first)s and resolved_at is null)",
                {"fp": fingerprint, "source": source, "severity": severity, "name": name, "summary": summary,
                 "first": first_at},
            )

    async def resolve_alerts(self, fingerprints: Sequence[str]) -> None:
        if not fingerprints:
            return
        async with self.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "update gonogo.alerts set resolved_at = now() where fingerprint = any(%s) and resolved_at is null"
                " returning fingerprint",
                (list(fingerprints),),
            )
            await self._end_episodes(conn, [fp for (fp,) in await cur.fetchall()])

    async def resolve_missing(self, source: str, keep: Sequence[str]) -> None:
        """Resolve every open alert of `source` whose fingerprint is not in `keep`."""
        async with self.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "update gonogo.alerts set resolved_at = now() where source = %s and resolved_at is null"
                " and not (fingerprint = any(%s)) returning fingerprint",
                (source, list(keep)),
            )
            await self._end_episodes(conn, [fp for (fp,) in await cur.fetchall()])

    @staticmethod
    async def _end_episodes(conn, fingerprints: list[str]) -> None:
        """The open episodes of alerts just resolved (their rows locked by that update,
        in this transaction) end at the same now()."""
        if fingerprints:
            await conn.execute(
                "update gonogo.alert_episodes set resolved_at = now() where fingerprint = any(%s) and resolved_at is null",
                (fingerprints,),
            )

    async def ack_alert(self, fingerprint: str, who: str) -> None:
        async with self.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "update gonogo.alerts set acked_at = now(), acked_by = %s where fingerprint = %s and acked_at is null"
                " returning first_at",
                (who, fingerprint),
            )
            row = await cur.fetchone()
            if row is None:
                return
            # The alert's current episode: the newest begun at its first_at.
            await conn.execute(
                "update gonogo.alert_episodes set acked_at = now(), acked_by = %(who)s where id = ("
                " select id from gonogo.alert_episodes where fingerprint = %(fp)s and first_at = %(first)s"
                " order by id desc limit 1) and acked_at is null",
                {"who": who, "fp": fingerprint, "first": row[0]},
            )

    async def recent_alerts(self, limit: int = 50) -> list[Alert]:
        """Open alerts newest first, then those resolved in the last hour."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "select last_at, source, severity, name, summary, fingerprint, acked_at is not null, resolved_at,"
                " first_at from gonogo.alerts where resolved_at is null or resolved_at > now() - interval '1 hour'"
                " order by (resolved_at is null) desc, last_at desc limit %s",
                (limit,),
            )
            return [
                Alert(
                    at=at, source=src, severity=sev, name=name,
                    summary=(summary if res is None else f"resolved · {summary}"),
                    fingerprint=fp, acked=acked or res is not None, first_at=first_at,
                )
                for at, src, sev, name, summary, fp, acked, res, first_at in await cur.fetchall()
            ]

    async def alert_detail(self, fingerprint: str) -> AlertDetail | None:
        """One alert by its fingerprint (the unique index), whatever its state; None
        if it is gone (pruned 35 days after it resolved)."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "select fingerprint, source, severity, name, summary, first_at, last_at, resolved_at, acked_at,"
                " coalesce(acked_by, ''), labels, labels_left_out from gonogo.alerts where fingerprint = %s",
                (fingerprint,),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        fp, src, sev, name, summary, first_at, last_at, resolved_at, acked_at, acked_by, labels, left_out = row
        # jsonb is outside text too: anything but an object of strings is shown as its text.
        labels = {str(k): v if isinstance(v, str) else str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
        return AlertDetail(fingerprint=fp, source=src, severity=sev, name=name, summary=summary, first_at=first_at,
                           last_at=last_at, resolved_at=resolved_at, acked_at=acked_at, acked_by=acked_by,
                           labels=labels, labels_left_out=left_out)
