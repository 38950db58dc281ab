"""What the demo keys reach: the simulated service's faults, and `n`, which puts the
whole demo back as it started.

Clearing a fault is not enough to see GO again: the probes that failed under it stay
in the windows (5 minutes for the error rate, 7 days for uptime, an hour for the
error-rate alert), so the gates would stay red or yellow for as long. An engineer
trying the demo expects `n` to undo what `e`, `l`, `o` and `x` did, so `n` clears the
fault and then seeds a clean week again, the same story `gonogo demo --reset` starts
with (the canary back at its step, the trail signed anew, the alerts cleared): the
gates read GO within seconds, on every console watching the demo."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol

import psycopg

from ..config import Config
from ..store import demo_seed
from .process import ServiceUnavailable
from .seed import seed

POLL = 0.1  # seconds between two looks at the newest probes while `n` waits for them


class DemoService(Protocol):
    """What the controls need of the service: `gonogo demo`'s child process
    (`console/demo/process.py`'s `ServiceProcess`) or, in tests, a `SimulatedService`
    in process."""

    def inject(self, kind: str | None) -> None: ...
    def describe(self) -> str: ...
    def stop(self) -> None: ...
    @property
    def port(self) -> int: ...


class DemoControls:
    """The simulated service as the console's demo keys see it (`inject`, `describe`,
    `restore`), and `stop` for `gonogo demo` to end it."""

    def __init__(self, service: DemoService, *, url: str, components: list[str], flag: str,
                 steps: list[int], burn_in_start: datetime, settle: timedelta, config: Config | None = None):
        self.service = service
        self.url = url
        self.components = components  # the targets' names: the probes `n` waits for
        self.flag = flag
        self.steps = steps
        self.burn_in_start = burn_in_start
        self.settle = settle  # the longest `n` waits for the probes sent under the fault
        self.config = config  # whose gates' evaluations the clean week holds again
        self._restoring: asyncio.Lock | None = None
        self._gone: str | None = None  # why the service's process cannot be reached, once it cannot

    def inject(self, kind: str | None) -> None:
        # A key press: a service process that died is said by describe(), never raised
        # into the console (whose action would end in a traceback).
        try:
            self.service.inject(kind)
        except ServiceUnavailable as e:
            self._gone = str(e)

    def describe(self) -> str:
        try:
            if self._gone is None:
                return self.service.describe()
        except ServiceUnavailable as e:
            self._gone = str(e)
        return f"the simulated service is not running: {self._gone}; restart `gonogo demo`"

    def stop(self) -> None:
        self.service.stop()

    @property
    def port(self) -> int:
        return self.service.port

    async def restore(self) -> str:
        """`n`: the service back to normal, then the demo's week seeded clean again.
        Returns what the status line says."""
        if self._restoring is None:
            self._restoring = asyncio.Lock()
        async with self._restoring:  # `n` pressed twice: one reseed after the other, never two at once
            self.service.inject(None)
            await self._fault_probes_written(datetime.now(timezone.utc))
            await seed(self.url, self.components, self.flag, self.steps, reset=True, start=self.burn_in_start,
                       config=self.config)
        return "back to normal: fault cleared and a clean week seeded; the gates read GO within seconds"

    async def _fault_probes_written(self, cleared_at: datetime) -> None:
        """Wait until every probe sent under the fault is in the database: a target's
        probes go one after the other, and one is written no later than the next, so a
        row sent after `cleared_at` for each target means none of the fault's is still
        to come. Otherwise one failed probe would land in the clean week, and keep the
        5-minute error rate off green. Bounded by `settle` (a target that never
        answers, a console that is not the leader)."""
        deadline = time.monotonic() + self.settle.total_seconds()
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                newest = await demo_seed.newest_probes(conn, self.components)
                if all(newest.get(t) is not None and newest[t] >= cleared_at for t in self.components):
                    return
                await asyncio.sleep(POLL)
