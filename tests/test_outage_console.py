"""The console (Pilot) through a crash loop of its embedded server: it starts the server
again, says so on the banner, stays leader and keeps every probe. How the outage is
made: tests/outage.py."""
from __future__ import annotations

import asyncio
import contextlib
import functools
from datetime import datetime, timezone

import pytest

from .conftest import wait_for
from .outage import (BEFORE, CRASH_FOR, FAST_STORE, FAST_SUPERVISOR, PROBE_EVERY, answers, crash_loop,  # noqa: F401
                     data_dir, kept, probe_span, url_of, write_config, written_past)


@pytest.mark.timeout(240)
async def test_console_restarts_the_killed_server_and_says_so_on_the_banner(tmp_path, health_server, data_dir,
                                                                            monkeypatch):
    from console import runtime
    from console.app import make_app
    from console.config import load_config
    from console.store.embedded import embedded_server_handle
    from widgets.verdict_banner import VerdictBanner

    monkeypatch.setattr(runtime, "EmbeddedSupervisor", functools.partial(runtime.EmbeddedSupervisor, **FAST_SUPERVISOR))
    monkeypatch.setattr(runtime, "Store", functools.partial(runtime.Store, **FAST_STORE))
    base, _ = health_server
    pgdata = data_dir / "pg"
    config = load_config(write_config(tmp_path, base, data_dir, interval=PROBE_EVERY))
    app = make_app(config)
    seen: list[str] = []

    def banner() -> str:
        return app.screen.query_one(VerdictBanner).render_text().plain

    try:
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.leader and app.snapshot.database.ok,
                           timeout=60, what="the console to lead")
            url = url_of(pgdata)
            flowing = datetime.now(timezone.utc)  # the span counted begins with probes already written
            await wait_for(pilot, lambda: written_past(url, flowing), timeout=30, what="the first probes written")
            await pilot.pause(BEFORE)
            down = datetime.now(timezone.utc)
            loop = asyncio.get_running_loop()
            # kept away until the banner says so (the evaluation waits up to the pool's timeout)
            crash = loop.run_in_executor(None, functools.partial(
                crash_loop, pgdata, CRASH_FOR, at_least=2,
                until=lambda: any("database restarting (attempt" in t for t in seen)))
            while not crash.done():
                seen.append(banner())
                await pilot.pause(0.1)
            killed = await crash
            await wait_for(pilot, lambda: answers(url), timeout=60, what="the server to be started again")
            back = datetime.now(timezone.utc)
            start, end, expected = probe_span(down, back)
            await wait_for(pilot, lambda: app.snapshot.database.ok and "UNAVAILABLE" not in banner(),
                           timeout=30, what="the banner to recover")
            await wait_for(pilot, lambda: written_past(url, end), timeout=30,
                           what="the probes of the outage and after it written")
            text = banner()
        n, dup, gap = kept(url, start, end)
        print(f"\nconsole: outage {(back - down).total_seconds():.1f} s, {len(killed)} postmasters killed;"
              f" probes kept {n} / expected {expected:.0f} ({100 * n / expected:.1f} %); longest gap {gap:.2f} s")
        assert n >= 0.95 * expected and dup == 0
        restarting = [t for t in seen if "database restarting (attempt" in t]
        assert restarting, seen[-5:]
        # the leader stays leader through the outage (it probes into its buffer)
        assert all("·  leader" in t and "follower" not in t for t in restarting), restarting[:2]
        assert "follower" not in text and "leader" in text and "UNAVAILABLE" not in text
    finally:
        with contextlib.suppress(Exception):
            embedded_server_handle(data_dir, "pg").cleanup()  # this process's handle
