"""The engine: probes every target on its own schedule, runs the PromQL and SQL gates
on theirs, evaluates every gate, keeps the alert feed, and hands a Snapshot to
whoever listens (the App, `gonogo watch`, `gonogo check`).

These are the loops: the probes, the evaluation's pace, the lead and the upkeep here;
the query gates, Alertmanager, the alert rules and LISTEN in source_loops.py, a mixin
of the Engine. The evaluation itself is one `Evaluation` (evaluation.py) that
the Engine holds and calls: the loops hand it readings (the probe buffer it writes
first, the query gates' answers, the database's health, the other sources'), and it
returns the Snapshot.

It never blocks: all I/O is async, every call has a timeout, and a loop re-arms only
after its last run ended. A database fault marks the snapshot's database health
down with the reason, keeps the last values (stale, hence unknown), buffers probe
results, and the loops carry on until the database answers again.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import httpx
import psycopg

from checks.models import ProbeResult, RolloutNotice, Snapshot, SourceHealth

from ..config import Config
from ..probe import make_client, make_http_client, probe
from ..secrets import mask_text
from ..rollout import RolloutController, make_controller
from ..store.db import Store, StoreUnavailable
from .alert_rules import AlertRules
from .auto_rollback import AutoRollback
from .evaluation import Clock, Evaluation, _short
from .notify_loop import Notifier
from .probe_schedule import next_probe, offset, startup_delay
from .source_loops import SourceLoops

log = logging.getLogger("gonogo.engine")

PROBE_BUFFER_MAX = 50_000  # about a day of 5 targets at 5 s; older results are dropped first
PROBE_FLUSH_BATCH = 5_000  # rows per insert when the buffer is written back (see _flush_probes)
RECORD_EVERY = timedelta(seconds=15)
EVALUATE_GAP = 0.2  # seconds: a storm of changes (a hundred targets failing at once) evaluates 5 times a second at most


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Engine(SourceLoops):
    """The loops, and the one Evaluation they feed (`evaluation`): the probes go to
    the buffer it writes first, the query gates' answers and the database's health
    to it, and what it returns to `on_snapshot`."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Clock = utcnow,
        on_snapshot: Callable[[Snapshot], None] | None = None,
        on_rollout_change: Callable[[RolloutNotice], None] | None = None,
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
        self.sources: dict[str, SourceHealth] = {}  # Alertmanager, the alert rules, probe writes, the engine
        self._buffer: deque[ProbeResult] = deque(maxlen=PROBE_BUFFER_MAX)
        self.evaluation = Evaluation(config, store, self.auto, clock=clock, leading=lambda: self.leader,
                                     sources=self.sources, write_probes=self._flush_probes)
        self.alert_rules = AlertRules(config, store, clock)
        self.notifier = Notifier(config, store, leading=lambda: self.leader)  # [[notify]]: the leader sends
        self.probed_here: tuple[ProbeResult, ...] = ()  # a one-shot's own probes (check_once)
        self._wake = asyncio.Event()
        self._last_probe: dict[str, tuple] = {}  # each target's last (ok, status, reason): a change pokes
        self._tasks: list[asyncio.Task] = []

    @property
    def snapshot(self) -> Snapshot | None:
        """The last evaluation's snapshot (None before the first)."""
        return self.evaluation.snapshot

    # -- lifecycle ----------------------------------------------------------------

    async def run(self) -> None:
        """Run every loop until cancelled."""
        await self.evaluation.load_history()
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
                for r in first:
                    self._turned(r)
        if self.leader:
            with contextlib.suppress(StoreUnavailable):
                await self._recover()
        loops = [self._leadership_loop(), self._evaluate_loop(), self._maintenance_loop(), self._listen_loop()]
        sup = self.store.supervisor  # the embedded server's (runtime.open_store); None for a URL
        if sup is not None:  # the embedded server this process uses: started again when it dies
            loops += [sup.run(on_change=self.poke), self._restart_alert_loop(sup)]
        loops += [self._probe_loop(t) for t in self.config.targets]
        loops += [self._query_loop(g) for g in self.config.gates if g.source in ("sql", "promql")]
        if self.config.alertmanager.url:
            loops.append(self._alertmanager_loop())
        loops.append(self._alert_rules_loop())
        if self.config.notify:
            loops.append(self.notifier.run())
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

    async def evaluate(self) -> Snapshot:
        """One evaluation now (console/engine/evaluation.py), handed to `on_snapshot`."""
        snap = await self.evaluation.evaluate()
        if self.on_snapshot is not None:
            self.on_snapshot(snap)
        return snap

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
        """Evaluate every `[console] refresh`, and at once when something changed: a
        target whose probe turned (ok to failing, another status), a query gate's new
        answer, alerts raised or resolved, a rollout change, a key. Between changes one
        evaluation a refresh is enough (the gates' windows are minutes long), and it is
        most of what an idle console costs. However many changes come, evaluations
        start at least EVALUATE_GAP apart."""
        period = self.config.console.refresh.total_seconds()
        loop = asyncio.get_running_loop()
        while True:
            # Cleared before, not after: a change seen while this evaluation reads is
            # not lost, it wakes the next one.
            self._wake.clear()
            started = loop.time()
            try:
                await self.evaluate()
            except Exception as e:  # a bug must not kill the console: show it, keep going
                log.exception("evaluation failed")
                self.sources["engine"] = SourceHealth(name="engine", ok=False, reason=mask_text(str(e))[:200])
            snap = self.evaluation.snapshot
            # Until the database answers (at start, in an outage) every second: its
            # return is on the screen at once, whatever the refresh.
            wait = period if snap is not None and snap.database.ok else min(period, 1.0)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            rest = EVALUATE_GAP - (loop.time() - started)
            if rest > 0:
                await asyncio.sleep(rest)

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
            if not self.leader and self._buffer and self.evaluation.database.ok:
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
                if self._turned(result):
                    self.poke()  # show it now, not at the refresh

    def _turned(self, result: ProbeResult) -> bool:
        """Whether `result` differs from its target's last one (ok, status, reason),
        which it becomes: a probe like the last waits for the refresh."""
        seen = (result.ok, result.status, result.reason)
        turned = self._last_probe.get(result.target) != seen
        self._last_probe[result.target] = seen
        return turned

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
                self.sources["probe writes"] = SourceHealth(
                    name="probe writes", ok=False, reason=f"{len(batch)} results refused: {_short(e)}", since=self.clock())

    async def _maintenance_loop(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(30)
            n += 1
            if not self.leader:
                continue
            try:
                # A change committed but never applied (its process died meanwhile) is applied.
                await self._recover()
                if n % 10 == 0:
                    await self.store.prune(self.config.database.retention)
            except (StoreUnavailable, psycopg.Error) as e:
                log.warning("maintenance: %s", _short(e))

    async def _recover(self) -> None:
        """Apply a change committed but never applied (RolloutController.recover), and
        tell this process's listener: no NOTIFY says it."""
        recovered = await self.controller.recover()
        if recovered is not None and self.on_rollout_change is not None:
            self.on_rollout_change(RolloutNotice(flag=self.config.rollout.flag, recovered=recovered.message,
                                                 actuation=recovered.actuation))

    # -- the embedded server's supervisor (console/store/supervisor.py) -------------

    async def _restart_alert_loop(self, sup) -> None:
        """Each restart of the embedded server becomes a critical alert once the
        database answers again (the supervisor logs it at once)."""
        while True:
            await asyncio.sleep(1)
            while sup.notices and self.evaluation.database.ok:
                note = sup.notices[0]
                try:
                    await self.store.raise_alert("db:restarted", "database", "critical",
                                                 "embedded database restarted", note.summary())
                except (StoreUnavailable, psycopg.Error):
                    break  # away again: the next round
                sup.notices.popleft()
                self.poke()
