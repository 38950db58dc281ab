"""The engine's loops that ask the other sources (core.py holds the probes, the
evaluation's pace, the lead and the upkeep): each PromQL and SQL gate on its own
schedule, Alertmanager, the console's alert rules, and LISTEN for rollout changes.
Each hands what it learnt to the evaluation (a query's answer, a source's health)
and pokes the engine when that changed what the screen shows, so it is evaluated now
rather than at the next refresh."""
from __future__ import annotations

import asyncio

import psycopg
from pydantic import ValidationError

from checks.models import RolloutNotice, SourceHealth

from ..config import Gate
from ..sources import SourceError
from ..sources.alertmanager import fetch_alerts
from ..sources.prometheus import promql_value
from ..store import rollout as rollout_tables
from ..store.db import StoreUnavailable
from .evaluation import QueryResult, _short


async def _readable(fd: int) -> None:
    """Until `fd` can be read: a notice arrived, or the server closed the connection
    (which the read that follows reports). psycopg's own `notifies()` wakes the event
    loop ten times a second to look (its 0.1 s wait interval), for nothing but
    Ctrl-C, which the App handles: at idle that was the loop's busiest waker."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(fd)


class SourceLoops:
    """Mixed into console.engine.core.Engine, whose state these loops use: `config`,
    `store`, `client` (httpx), `clock`, `evaluation`, `sources`, `alert_rules`,
    `leader`, `snapshot`, `on_rollout_change` and `poke()`."""

    async def _query_loop(self, gate: Gate) -> None:
        while True:
            before = self.evaluation.last_answer(gate.name)
            await self._run_query(gate)
            after = self.evaluation.last_answer(gate.name)
            if (after.value, after.error) != (before.value, before.error):
                self.poke()  # a new answer is shown now, not at the next refresh
            await asyncio.sleep(gate.interval.total_seconds())

    async def ask_queries_now(self) -> None:
        """Every PromQL and SQL gate asked once now, at once (after the demo's `n`
        rewrote what they read), then an evaluation; their loops keep their pace."""
        gates = [g for g in self.config.gates if g.source in ("sql", "promql")]
        await asyncio.gather(*(self._run_query(g) for g in gates))
        self.poke()

    async def _run_query(self, gate: Gate) -> None:
        """Ask a PromQL or SQL gate's query once; its answer goes to the evaluation."""
        now = self.clock()
        answer = self.evaluation.answer
        try:
            if gate.source == "promql":
                value = await promql_value(
                    self.client, self.config.prometheus.url, gate.query, gate.timeout.total_seconds(),
                    headers=self.config.prometheus.headers,
                )
            else:
                value = await self.store.sandbox.value(gate.query, gate.timeout)
                if value is None:  # NULL: no data, which is never green
                    answer(gate.name, QueryResult(None, "the query returned NULL", now))
                    return
            answer(gate.name, QueryResult(value=value, observed_at=now))
        except StoreUnavailable as e:
            self.evaluation.db_down(str(e), now)  # the last answer stands, ageing into stale
        except (SourceError, psycopg.Error, ValueError) as e:
            answer(gate.name, QueryResult(None, _short(e), now))

    async def _alertmanager_loop(self) -> None:
        am = self.config.alertmanager
        seen: tuple = ()
        while True:
            now = self.clock()
            before = self.sources.get("alertmanager")
            try:
                alerts = await fetch_alerts(self.client, am.url, am.timeout.total_seconds(), headers=am.headers)
                self.sources["alertmanager"] = SourceHealth(name="alertmanager", ok=True, since=now)
                if self.leader:
                    for a in alerts:
                        await self.store.raise_alert(a.fingerprint, "alertmanager", a.severity, a.name, a.summary, a.at,
                                                     labels=a.labels, labels_left_out=a.labels_left_out)
                    await self.store.resolve_missing("alertmanager", [a.fingerprint for a in alerts])
                now_seen = tuple(sorted((a.fingerprint, a.severity) for a in alerts))
                if now_seen != seen:  # raised, resolved or changed: shown now
                    seen = now_seen
                    self.poke()
            except SourceError as e:
                prev = self.sources.get("alertmanager")
                since = prev.since if prev and not prev.ok else now
                self.sources["alertmanager"] = SourceHealth(name="alertmanager", ok=False, reason=str(e), since=since)
            except StoreUnavailable as e:
                self.evaluation.db_down(str(e), now)
            except psycopg.Error as e:
                self.sources["alertmanager"] = SourceHealth(name="alertmanager", ok=False,
                                                            reason=f"cannot store its alerts: {_short(e)}")
            after = self.sources.get("alertmanager")
            if before is None or after is None or before.ok != after.ok:
                self.poke()  # Alertmanager went away or came back: the screen says so now
            await asyncio.sleep(am.interval.total_seconds())

    async def _alert_rules_loop(self) -> None:
        cfg = self.config.alerts
        await asyncio.sleep(1)
        while True:
            if self.leader and self.evaluation.database.ok:
                try:
                    await self.alert_rules.apply(self.snapshot)
                    self.poke()  # what the rules raised or resolved is on the screen now
                    if "alert rules" in self.sources:  # a past problem is over
                        self.sources["alert rules"] = SourceHealth(name="alert rules", ok=True, since=self.clock())
                except StoreUnavailable as e:
                    self.evaluation.db_down(str(e), self.clock())
                except (psycopg.Error, ValueError) as e:
                    self.sources["alert rules"] = SourceHealth(name="alert rules", ok=False, reason=_short(e))
            await asyncio.sleep(cfg.interval.total_seconds())

    async def _listen_loop(self) -> None:
        """LISTEN for rollout changes made anywhere (another console, the CLI, the
        leader's auto-rollback) and re-evaluate at once."""
        delay = 1.0
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.store.url, autocommit=True, connect_timeout=3)
            except psycopg.Error:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15)
                continue
            delay = 1.0
            try:
                async with conn:
                    await rollout_tables.listen(conn)
                    while True:
                        async for note in conn.notifies(timeout=0):  # what arrived, without waiting
                            try:  # outside text: a payload that is not a notice is ignored
                                notice = RolloutNotice.model_validate_json(note.payload)
                            except ValidationError:
                                continue
                            if notice.flag != self.config.rollout.flag:
                                continue
                            self.poke()
                            if self.on_rollout_change is not None:
                                self.on_rollout_change(notice)
                        await _readable(conn.fileno())
            except psycopg.Error:
                await asyncio.sleep(delay)
