"""The engine: probes every target on its own schedule, runs the PromQL and SQL gates
on theirs, evaluates every gate, keeps the alert feed, and hands a Snapshot to
whoever listens (the App, `gonogo watch`, `gonogo check`).

It never blocks: all I/O is async, every call has a timeout, and a loop re-arms only
after its last run ended. A database fault marks the snapshot's database health
down with the reason, keeps the last values (stale, hence unknown), buffers probe
results, and the loops carry on until the database answers again.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import httpx
import psycopg

from checks.alert_rules import burst_alert, cost_alert, error_rate_alert, event_alert, gate_alerts
from checks.models import ProbeResult, Snapshot, SourceHealth
from checks.sql_result import event_rows

from ..config import Config, Gate
from ..probe import make_client, make_http_client, probe
from ..secrets import mask_text
from ..sources import SourceError
from ..sources.alertmanager import fetch_alerts
from ..sources.prometheus import promql_value
from ..rollout import RolloutController, make_controller
from ..store import rollout as rollout_tables
from ..store.db import Store, StoreUnavailable
from ..store.sandbox import QueryRefused
from .auto_rollback import AutoRollback
from .evaluation import EngineState, Evaluation, QueryResult, _short
from .gate_reads import ProbeGateReader, ProbeGateSpec
from .probe_schedule import next_probe, offset, startup_delay

log = logging.getLogger("gonogo.engine")

Clock = Callable[[], datetime]
PROBE_BUFFER_MAX = 50_000  # about a day of 5 targets at 5 s; older results are dropped first
PROBE_FLUSH_BATCH = 5_000  # rows per insert when the buffer is written back (see _flush_probes)
RECORD_EVERY = timedelta(seconds=15)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Engine(Evaluation):
    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Clock = utcnow,
        on_snapshot: Callable[[Snapshot], None] | None = None,
        on_rollout_change: Callable[[dict], None] | None = None,
        client: httpx.AsyncClient | None = None,
        lead: bool = True,
        controller: RolloutController | None = None,
        record_every: timedelta = RECORD_EVERY,
    ):
        self.config = config
        self.store = store
        self.clock = clock
        self.on_snapshot = on_snapshot
        self.on_rollout_change = on_rollout_change
        self.record_every = record_every
        self.controller = controller or make_controller(config, store)
        self.auto = AutoRollback(config, store, self.controller, record_every=record_every)
        self.client = client or make_http_client()  # PromQL and Alertmanager (httpx)
        self.probe_client = make_client()  # health probes (aiohttp; its sessions made at first use)
        self.want_lead = lead
        self.leader = False
        self.state = EngineState()
        self.snapshot: Snapshot | None = None
        self._buffer: deque[ProbeResult] = deque(maxlen=PROBE_BUFFER_MAX)
        self.gate_reader = ProbeGateReader()
        # The alert rules read other windows, at their own pace: a reader of their own,
        # so neither evicts what the other keeps.
        self.rule_reader = ProbeGateReader()
        self._targets_of: dict[str, tuple[list[str], timedelta]] = {}
        self.probed_here: tuple[ProbeResult, ...] = ()  # a one-shot's own probes (check_once)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    # -- lifecycle ----------------------------------------------------------------

    async def run(self) -> None:
        """Run every loop until cancelled."""
        await self._load_history()
        if self.want_lead:
            # Lead and probe once before the first evaluation, so the first frame shows
            # live data rather than a stale one.
            with contextlib.suppress(Exception):
                self.leader = await self.store.hold_leadership(f"gonogo:{self.config.rollout.flag}")
            if self.leader and self.config.targets:
                # Spread over a moment, not all in one instant: a burst of N probes
                # queues inside gonogo and costs N probes of CPU at once.
                n = len(self.config.targets)

                async def first_probe(t):
                    await asyncio.sleep(startup_delay(t.name, t.interval.total_seconds(), n))
                    return await probe(self.probe_client, t)

                first = await asyncio.gather(*(first_probe(t) for t in self.config.targets))
                self._buffer.extend(first)
        if self.leader:
            with contextlib.suppress(StoreUnavailable):
                recovered = await self.controller.recover()
                if recovered is not None and self.on_rollout_change is not None:
                    self.on_rollout_change({"recovered": recovered.message, "actuation": recovered.actuation})
        loops = [self._leadership_loop(), self._evaluate_loop(), self._maintenance_loop(), self._listen_loop()]
        sup = self._supervisor()
        if sup is not None:  # the embedded server this process uses: started again when it dies
            loops += [sup.run(on_change=self.poke), self._restart_alert_loop(sup)]
        loops += [self._probe_loop(t) for t in self.config.targets]
        loops += [self._query_loop(g) for g in self.config.gates if g.source in ("sql", "promql")]
        if self.config.alertmanager.url:
            loops.append(self._alertmanager_loop())
        loops.append(self._alert_rules_loop())
        self._tasks = [asyncio.create_task(c) for c in loops]
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for t in self._tasks:
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.probe_client.aclose()
        with contextlib.suppress(Exception):
            await self.client.aclose()

    def poke(self) -> None:
        """Evaluate now rather than at the next tick (after a fault injection, a key)."""
        self._wake.set()

    # -- one evaluation (also `gonogo check`) ------------------------------------

    async def check_once(self, *, probe_here: bool = True) -> Snapshot:
        """One evaluation for a one-shot command (`check`, `report`, `advance`): every
        query gate run once, then the very evaluation the console makes, from the same
        store. It writes nothing: a one-shot is never the leader, records no
        evaluation and never acts. `probe_here` probes every target from this machine
        too: they count for this answer alone, inside a transaction that is rolled
        back (Store.scratch), and are kept in `probed_here` to be shown."""
        assert not self.leader, "a one-shot evaluation must not lead"
        probes = [probe(self.probe_client, t) for t in self.config.targets] if probe_here else []
        results = await asyncio.gather(*probes, *(self._run_query(g) for g in self.config.gates if g.source != "probe"))
        self.probed_here = tuple(results[:len(probes)])
        try:
            async with self.store.scratch():
                if self.probed_here:
                    await self.store.insert_probes(self.probed_here)
                return await self.evaluate()
        except StoreUnavailable:
            return await self.evaluate()  # says why, with the database marked down

    # -- loops --------------------------------------------------------------------

    async def _evaluate_loop(self) -> None:
        period = self.config.console.refresh.total_seconds()
        while True:
            try:
                await self.evaluate()
            except Exception as e:  # a bug must not kill the console: show it, keep going
                log.exception("evaluation failed")
                self.state.sources["engine"] = SourceHealth(name="engine", ok=False, reason=mask_text(str(e))[:200])
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=period)

    async def _leadership_loop(self) -> None:
        """Take or keep the leadership lock. A leader steps down only when it sees
        another process hold the lock (Store.hold_leadership answers False); a database
        it cannot reach says nothing about who leads, so it stays leader, probing into
        its buffer, and a follower stays follower. After an outage the leader, which
        lost its lock with its connection, asks every second rather than every five,
        so it takes its lock back before a follower does."""
        key = f"gonogo:{self.config.rollout.flag}"
        while True:
            unsure = False
            if self.want_lead:
                try:
                    lead = await self.store.hold_leadership(key)
                except StoreUnavailable:
                    lead, unsure = self.leader, True
                except Exception:  # a bug must not change who leads
                    log.exception("leadership check failed")
                    lead, unsure = self.leader, True
                if lead != self.leader:
                    log.warning("%s", "leading: this process probes and acts" if lead else
                                "another process holds the leadership lock: following")
                    self.leader = lead
                    self.poke()
            if not self.leader and self._buffer and self.state.database.ok:
                # Probed while leading, before another process took over: still ours to write.
                await self._flush_probes()
            await asyncio.sleep(1 if unsure and self.leader else 5)

    async def _probe_loop(self, target) -> None:
        """Probe `target` at its own slot of each interval while leading, into the
        buffer. The slots are spread by name, and a loop that fell behind skips to
        its next slot rather than bursting (probe_schedule.next_probe)."""
        interval = target.interval.total_seconds()
        phase = offset(target.name, interval)
        loop = asyncio.get_running_loop()
        last = loop.time() if self.leader else None  # run() probed once already
        while True:
            start = next_probe(last, loop.time(), interval, phase)
            await asyncio.sleep(max(0.0, start - loop.time()))
            last = loop.time()
            if self.leader:
                result = await probe(self.probe_client, target)
                self._buffer.append(result)

    async def _flush_probes(self) -> None:
        """Write the buffered probe results, oldest first, PROBE_FLUSH_BATCH rows per
        statement: a day of buffer after an outage goes back in a few seconds, no
        statement near the timeout. Each batch leaves the buffer before it is written
        (probes taken meanwhile queue behind it) and goes back when the database is
        away again; a batch written twice (its commit's answer lost) is skipped by the
        database, (target, at) being unique."""
        while self._buffer:
            batch = [self._buffer.popleft() for _ in range(min(len(self._buffer), PROBE_FLUSH_BATCH))]
            try:
                await self.store.insert_probes(batch)
            except (StoreUnavailable, psycopg.errors.QueryCanceled) as e:
                # Kept for the next try; when the buffer is full the oldest go first, as ever.
                self._buffer = deque([*batch, *self._buffer], maxlen=PROBE_BUFFER_MAX)
                if isinstance(e, psycopg.errors.QueryCanceled):
                    log.warning("writing %d buffered probe results timed out; retrying later", len(batch))
                return
            except psycopg.Error as e:
                # Rows the database refuses (not a connection fault) must not block every
                # later evaluation: report and drop this batch.
                log.error("dropped %d probe results the database refused: %s", len(batch), _short(e))
                self.state.sources["probe writes"] = SourceHealth(
                    name="probe writes", ok=False, reason=f"{len(batch)} results refused: {_short(e)}", since=self.clock())

    async def _query_loop(self, gate: Gate) -> None:
        while True:
            await self._run_query(gate)
            await asyncio.sleep(gate.interval.total_seconds())

    async def _run_query(self, gate: Gate) -> None:
        now = self.clock()
        prev = self.state.query_results.get(gate.name) or QueryResult()
        try:
            if gate.source == "promql":
                value = await promql_value(
                    self.client, self.config.prometheus.url, gate.query, gate.timeout.total_seconds(),
                    headers=self.config.prometheus.headers,
                )
            else:
                value = await self.store.sandbox.value(gate.query, gate.timeout)
                if value is None:  # NULL: no data, which is never green
                    self.state.query_results[gate.name] = QueryResult(None, "the query returned NULL", now)
                    return
            self.state.query_results[gate.name] = QueryResult(value=value, observed_at=now)
        except StoreUnavailable as e:
            self._db_down(str(e), now)
            self.state.query_results[gate.name] = QueryResult(prev.value, prev.error, prev.observed_at)
        except (SourceError, psycopg.Error, ValueError) as e:
            self.state.query_results[gate.name] = QueryResult(None, _short(e), now)

    async def _alertmanager_loop(self) -> None:
        am = self.config.alertmanager
        while True:
            now = self.clock()
            try:
                alerts = await fetch_alerts(self.client, am.url, am.timeout.total_seconds(), headers=am.headers)
                self.state.sources["alertmanager"] = SourceHealth(name="alertmanager", ok=True, since=now)
                if self.leader:
                    for a in alerts:
                        await self.store.raise_alert(a.fingerprint, "alertmanager", a.severity, a.name, a.summary, a.at)
                    await self.store.resolve_missing("alertmanager", [a.fingerprint for a in alerts])
            except SourceError as e:
                prev = self.state.sources.get("alertmanager")
                since = prev.since if prev and not prev.ok else now
                self.state.sources["alertmanager"] = SourceHealth(name="alertmanager", ok=False, reason=str(e), since=since)
            except StoreUnavailable as e:
                self._db_down(str(e), now)
            except psycopg.Error as e:
                self.state.sources["alertmanager"] = SourceHealth(name="alertmanager", ok=False,
                                                                  reason=f"cannot store its alerts: {_short(e)}")
            await asyncio.sleep(am.interval.total_seconds())

    async def _alert_rules_loop(self) -> None:
        cfg = self.config.alerts
        await asyncio.sleep(1)
        while True:
            if self.leader and self.state.database.ok:
                try:
                    await self._apply_alert_rules()
                    if "alert rules" in self.state.sources:  # a past problem is over
                        self.state.sources["alert rules"] = SourceHealth(name="alert rules", ok=True, since=self.clock())
                except StoreUnavailable as e:
                    self._db_down(str(e), self.clock())
                except (psycopg.Error, ValueError) as e:
                    self.state.sources["alert rules"] = SourceHealth(name="alert rules", ok=False, reason=_short(e))
            await asyncio.sleep(cfg.interval.total_seconds())

    async def _apply_alert_rules(self) -> None:
        """Read what the rules judge, let checks.alert_rules decide, write the alerts."""
        cfg = self.config.alerts
        snap = self.snapshot
        firing = gate_alerts(snap.gates) if snap is not None else []
        targets = [t.name for t in self.config.targets]
        if targets:
            hour = ProbeGateSpec("error_rate", timedelta(hours=1), tuple(targets))
            agg = (await self.rule_reader.read(self.store, [hour]))[0]
            firing.append(error_rate_alert(agg.value, agg.detail, cfg.error_rate_1h))
            firing.append(burst_alert(await self.store.count_5xx(timedelta(minutes=1)), cfg.max_5xx_per_minute))
        # A refused configured query (cost_query, events_query) is reported, and must
        # not stop the other rules: it is collected and raised at the end.
        refused: list[str] = []
        timeout = self.config.database.statement_timeout
        if cfg.cost_query:
            try:
                firing.append(cost_alert(await self.store.sandbox.value(cfg.cost_query, timeout), cfg.cost_budget))
            except QueryRefused as e:
                refused.append(f"cost_query: {e}")
        firing = [f for f in firing if f is not None]
        for f in firing:
            await self.store.raise_alert(f.fingerprint, "rule", f.severity, f.name, f.summary)
        await self.store.resolve_missing("rule", [f.fingerprint for f in firing])
        if cfg.events_query:
            try:
                events = event_rows(await self.store.sandbox.rows(cfg.events_query, timeout))
            except ValueError as e:  # QueryRefused, or a row of the wrong shape
                refused.append(f"events_query: {e}")
            else:
                keep = []
                for ev in events:
                    f = event_alert(ev)
                    keep.append(f.fingerprint)
                    await self.store.raise_alert(f.fingerprint, "events", f.severity, f.name, f.summary, ev.at)
                await self.store.resolve_missing("events", keep)
        if refused:
            raise ValueError("; ".join(refused))

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
                    async for note in conn.notifies():
                        try:
                            payload = json.loads(note.payload)
                        except ValueError:
                            continue
                        if payload.get("flag") != self.config.rollout.flag:
                            continue
                        self.poke()
                        if self.on_rollout_change is not None:
                            self.on_rollout_change(payload)
            except psycopg.Error:
                await asyncio.sleep(delay)

    async def _maintenance_loop(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(30)
            n += 1
            if not self.leader:
                continue
            try:
                # A change committed but never applied (its process died meanwhile) is applied.
                recovered = await self.controller.recover()
                if recovered is not None and self.on_rollout_change is not None:
                    self.on_rollout_change({"recovered": recovered.message, "actuation": recovered.actuation})
                if n % 10 == 0:
                    await self.store.prune(self.config.database.retention)
            except (StoreUnavailable, psycopg.Error) as e:
                log.warning("maintenance: %s", _short(e))

    # -- helpers ------------------------------------------------------------------

    # -- the embedded server's supervisor (console/store/supervisor.py) -------------

    def _supervisor(self):
        """The supervisor of the embedded server the store runs on (runtime.open_store
        sets it); None for a database given by URL, or a store made directly."""
        return self.store.supervisor

    async def _restart_alert_loop(self, sup) -> None:
        """Each restart of the embedded server becomes a critical alert once the
        database answers again (the supervisor logs it at once)."""
        while True:
            await asyncio.sleep(1)
            while sup.notices and self.state.database.ok:
                note = sup.notices[0]
                try:
                    await self.store.raise_alert("db:restarted", "database", "critical",
                                                 "embedded database restarted", note.summary())
                except (StoreUnavailable, psycopg.Error):
                    break  # away again: the next round
                sup.notices.popleft()
                self.poke()
