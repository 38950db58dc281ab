"""The engine evaluates every `[console] refresh` while nothing changes, and at once
when something does (issue 12, the idle cost): a target whose probe turns, a query
gate's new answer. The refresh here is 30 s, so what a test sees within seconds was
evaluated because it changed."""
import asyncio
import time

from checks.models import Band

from .conftest import make_config, wait_for
from .test_engine import gate, running

QUIET = {"refresh": "30s", "operator": "tester"}
RULES_SELDOM = {"cost_query": "", "events_query": "", "interval": "30s"}  # the rules' pass also evaluates


def quiet_config(db_url, base, query_gate):
    """A 30 s refresh, the rules seldom, and one query gate beside the error rate."""
    return make_config(db_url, base, console=QUIET, alerts=RULES_SELDOM, auto_rollback={"gates": []},
                       gates=[{"name": "error_rate", "source": "probe", "window": "5m"}, query_gate])


async def test_a_target_that_turns_is_evaluated_at_once_and_steady_probes_wait_for_the_refresh(db_url, health_server):
    base, state = health_server
    config = make_config(db_url, base, targets=("api",), console=QUIET, alerts=RULES_SELDOM)
    seen = []
    async with running(config, on_snapshot=seen.append) as engine:
        await wait_for(None, lambda: engine.snapshot is not None
                       and gate(engine.snapshot, "checks_passing").band is Band.GREEN, what="first GO")
        await asyncio.sleep(1.5)  # past the rules' first pass, which evaluates once
        before = len(seen)
        await asyncio.sleep(3)  # three probes a second apart, each ok like the last
        assert len(seen) == before, "a probe like the last one waits for the refresh"

        state.status = 503
        t0 = time.monotonic()
        await wait_for(None, lambda: gate(engine.snapshot, "checks_passing").band is Band.RED, timeout=10,
                       what="the failing target on the snapshot")
        assert time.monotonic() - t0 < 3  # its next probe (1 s) turned it: evaluated then, not in 30 s
        state.status = 200
        t0 = time.monotonic()
        await wait_for(None, lambda: gate(engine.snapshot, "checks_passing").band is Band.GREEN, timeout=10,
                       what="the target back")
        assert time.monotonic() - t0 < 3


async def test_a_query_gates_new_answer_is_evaluated_at_once(db_url, health_server):
    base, _ = health_server
    # The answer flips every 2 s by the database's clock; asked every second.
    flip = {"name": "flip", "source": "sql", "query": "select (extract(epoch from now())::int / 2) % 2",
            "interval": "1s", "green": "< 1", "red": "> 5"}
    config = quiet_config(db_url, base, flip)
    async with running(config) as engine:
        await wait_for(None, lambda: engine.snapshot is not None and gate(engine.snapshot, "flip").value is not None,
                       what="the query's first answer")
        values = set()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 7 and values != {0.0, 1.0}:
            values.add(gate(engine.snapshot, "flip").value)
            await asyncio.sleep(0.1)
        assert values == {0.0, 1.0}  # both answers shown within seconds, with a 30 s refresh


async def test_ask_queries_now_asks_every_query_gate_again_and_shows_the_answer(db_url, health_server):
    """What the demo's `n` does once it has seeded the week again: the query gates'
    answers were given before, and are asked again at once, not at their interval."""
    base, _ = health_server
    clock = {"name": "db_seconds", "source": "sql", "query": "select extract(epoch from now())::bigint",
             "interval": "1h", "green": "> 0", "red": "< 0"}
    config = quiet_config(db_url, base, clock)
    async with running(config) as engine:
        await wait_for(None, lambda: engine.snapshot is not None
                       and gate(engine.snapshot, "db_seconds").value is not None, what="the first answer")
        first = gate(engine.snapshot, "db_seconds").value
        await asyncio.sleep(1.2)
        assert gate(engine.snapshot, "db_seconds").value == first  # asked once an hour
        await engine.ask_queries_now()
        await wait_for(None, lambda: gate(engine.snapshot, "db_seconds").value > first, timeout=3,
                       what="the new answer on the snapshot")
