"""The webhooks' task (`[[notify]]`): only the leader runs it, beside the other loops,
so a send never waits on an evaluation or an action, nor they on it.

Every `tick` the leader
1. reads the events of the last `lookback` (Store.notify_events: the flag's audit
   rows, critical alert episodes, a change not applied) and enqueues each for every
   webhook that wants it and was configured when it happened (a new webhook is not
   flooded with the history before it; an event is the same row whichever leader
   reads it, so `on conflict do nothing` keeps it once);
2. claims the due rows it has room for and sends each in a task of its own, at most
   `concurrency` at once, each with the webhook's timeout, on a client of its own.

A failed send is tried again after a backoff with jitter, its `next_at` stored, so a
new leader resumes the schedule; after the webhook's `attempts` it is given up and
kept with its last error. While a webhook fails, the feed holds a warning alert
(source "notify") naming it by its name, never its URL's path; it resolves at the
webhook's next success. Leadership lost mid-round: sends in flight finish, nothing
new is claimed.
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import httpx
import psycopg

from ..config import Config
from ..config.notify import NotifySection
from ..http_clients import make_http_client
from ..notify.bodies import body_for
from ..notify.send import post, retry_delay
from ..secrets import mask_text
from ..store.db import Store, StoreUnavailable
from ..store.notify import OutboxRow

log = logging.getLogger("gonogo.notify")

TICK = 2.0  # seconds between rounds: an auto-rollback reaches the channel within about this
LOOKBACK = timedelta(hours=24)  # events older than this are not looked for (a leader away longer misses them)
KEEP = timedelta(days=7)  # sent and given-up rows kept; more than LOOKBACK, or they would be enqueued again
CONCURRENCY = 4
LEASE_MARGIN = timedelta(seconds=30)  # a claimed row is due again this long after its send's timeout
PRUNE_EVERY = 900  # rounds


class Notifier:
    def __init__(self, config: Config, store: Store, *, leading: Callable[[], bool], tick: float = TICK,
                 lookback: timedelta = LOOKBACK, concurrency: int = CONCURRENCY,
                 rng: Callable[[], float] = random.random, client: httpx.AsyncClient | None = None):
        self.flag = config.rollout.flag
        self.store = store
        self.leading = leading
        self.tick = tick
        self.lookback = lookback
        self.concurrency = concurrency
        self.rng = rng
        self.webhooks: dict[str, NotifySection] = {w.name: w for w in config.notify}
        self.lease = max(w.timeout for w in config.notify) + LEASE_MARGIN if config.notify else LEASE_MARGIN
        self._client = client
        self.since: dict[str, datetime] = {}  # each webhook's first sighting; empty until this process leads
        self._enqueued: dict[tuple[str, str], datetime] = {}  # (webhook, event key) → event time, in the look-back
        # Unknown at start (an alert may be left from the last leader): the first success resolves it.
        self._failing: set[str] = set(self.webhooks)
        self._in_flight: set[asyncio.Task] = set()
        self.rounds = 0

    async def run(self) -> None:
        client = self._client or make_http_client()
        try:
            while True:
                if self.leading():
                    try:
                        await self.round(client)
                    except StoreUnavailable:
                        pass  # the engine shows the database down; the next round tries again
                    except psycopg.Error as e:
                        log.warning("notify: %s", mask_text(str(e))[:200])
                else:
                    self.since = {}  # leading again later, it registers again (a webhook added meanwhile)
                await asyncio.sleep(self.tick)
        finally:
            for t in self._in_flight:
                t.cancel()
            await asyncio.gather(*self._in_flight, return_exceptions=True)
            if self._client is None:
                await client.aclose()

    async def round(self, client: httpx.AsyncClient) -> None:
        self.rounds += 1
        if not self.since:
            self.since = await self.store.notify_register(list(self.webhooks))
            # A webhook taken out of the config fails no more.
            await self.store.resolve_missing("notify", [w.alert_fingerprint for w in self.webhooks.values()])
        await self._enqueue()
        free = self.concurrency - len(self._in_flight)
        for row in await self.store.notify_claim(list(self.webhooks), free, self.lease):
            task = asyncio.create_task(self._send(client, row), name=f"notify:{row.webhook}")
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        if self.rounds % PRUNE_EVERY == 0:
            await self.store.notify_prune(KEEP)

    async def _enqueue(self) -> None:
        cutoff = datetime.now(timezone.utc) - self.lookback
        since = max(min(self.since.values()), cutoff)
        rows = []
        for event in await self.store.notify_events(self.flag, since):
            for w in self.webhooks.values():
                key = (w.name, event.key)
                if key in self._enqueued or event.at < self.since[w.name] or not w.wants(event.kind):
                    continue
                rows.append((w.name, event, body_for(w.format, event)))
        if rows:
            await self.store.notify_enqueue(rows)
            self._enqueued.update(((w, e.key), e.at) for w, e, _ in rows)
        self._enqueued = {k: at for k, at in self._enqueued.items() if at >= cutoff}

    async def _send(self, client: httpx.AsyncClient, row: OutboxRow) -> None:
        w = self.webhooks[row.webhook]
        try:
            d = await post(client, w, row.body)
            if d.ok:
                await self.store.notify_sent(row.webhook, row.event_key, d.status)
                if w.name in self._failing:
                    await self.store.resolve_alerts([w.alert_fingerprint])
                    self._failing.discard(w.name)
                return
            last = not d.retry or row.attempts >= w.attempts
            retry_in = None if last else retry_delay(row.attempts, self.rng)
            await self.store.notify_failed(row.webhook, row.event_key, d.status, d.error, retry_in)
            if last:
                then = f"gave up on a {row.kind} event after {row.attempts} attempt(s)"
            else:
                then = f"{row.kind} event, attempt {row.attempts} of {w.attempts}; next in {retry_in.total_seconds():.0f}s"
            log.warning("webhook %s: %s (%s)", w.name, d.error, then)
            self._failing.add(w.name)
            await self.store.raise_alert(w.alert_fingerprint, "notify", "warning", f"webhook {w.name} failing",
                                         mask_text(f"{d.error} ({then})"))
        except (StoreUnavailable, psycopg.Error) as e:
            # The row stays claimed until its lease ends, then is tried again.
            log.warning("webhook %s: cannot record the send: %s", w.name, mask_text(str(e))[:200])
        except Exception:  # a bug must not end the task silently; the row is tried again after its lease
            log.exception("webhook %s: send failed", w.name)
