"""`gonogo watch` (a subprocess) through a crash loop of its embedded server: it starts
the server again itself, the leader stays leader and keeps probing into its buffer,
every probe of the outage is kept once, and with two watches one leads. How the
outage is made: tests/outage.py."""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from .outage import (BEFORE, PROBE_EVERY, Watch, data_dir, kept, outage_under, postmaster,  # noqa: F401 (data_dir is a fixture)
                     probe_span, url_of, wait_until, write_config, written_past)


@pytest.mark.timeout(240)
def test_watch_restarts_the_killed_server_and_keeps_every_probe(tmp_path, health_server, data_dir):
    base, _ = health_server
    pgdata = data_dir / "pg"
    watch = Watch(write_config(tmp_path, base, data_dir, interval=PROBE_EVERY))
    try:
        watch.wait_for(lambda: any("(leader)" in ln for ln in watch.lines), 60, "watch to lead")
        url = url_of(pgdata)
        # Probes before the outage, to compare with: counted from a probe already written
        # (on a busy machine the first ones come a little after the lead).
        flowing = datetime.now(timezone.utc)
        watch.wait_for(lambda: written_past(url, flowing), 30, "the first probes written")
        time.sleep(BEFORE)
        # kept away until the watch says so (its evaluation waits up to the pool's timeout)
        down, back, killed = outage_under(pgdata, until=lambda: "database unavailable" in watch.lines[-1])
        assert len(killed) >= 2  # it was started again, by the watch, while the test killed it
        start, end, expected = probe_span(down, back)
        # probes after, and the buffer written back
        watch.wait_for(lambda: written_past(url, end), 30, "the probes of the outage and after it written")
        watch.wait_for(lambda: watch.lines and "database unavailable" not in watch.lines[-1], 30, "watch to recover")
        n, dup, gap = kept(url, start, end)
        print(f"\nwatch: outage {(back - down).total_seconds():.1f} s, {len(killed)} postmasters killed;"
              f" probes kept {n} / expected {expected:.0f} over {(end - start).total_seconds():.0f} s"
              f" ({100 * n / expected:.1f} %); longest gap {gap:.2f} s")
        assert n >= 0.95 * expected and dup == 0
        during = [ln for ln in watch.lines if "database unavailable" in ln]
        assert during, watch.lines
        # (Its line says "database restarting (attempt N)" unless the kill broke a query in
        # flight: the watch prints a line when the verdict, reasons, database health or
        # role change, not its reason, so the first reason stays. The attempts are in its log.)
        assert all("(leader)" in ln for ln in during), during  # the leader stays leader through the outage
        assert "(leader)" in watch.lines[-1] and "database unavailable" not in watch.lines[-1]

        def restart_alert():
            with psycopg.connect(url) as c:
                return c.execute("select severity, source, summary from gonogo.alerts"
                                 " where fingerprint = 'db:restarted' and resolved_at is null").fetchone()

        watch.wait_for(lambda: restart_alert() is not None, 30, "the restart's alert")
        alert = restart_alert()
        assert alert[0] == "critical" and "started again" in alert[2], alert
    finally:
        err = watch.stop()  # (the fixture stops the server whatever happened)
        print(f"watch's stderr:\n{err}")
    assert watch.proc.returncode == 0 and "Traceback" not in err, err
    # the log lines (watch logs to stderr): the death, and the restart after the attempts the crash loop killed
    attempts = [int(k) for k in re.findall(r"started again \(pid \d+\) after [\d.]+ s \(attempt (\d+)\)", err)]
    assert "starting it again" in err and attempts and attempts[-1] >= 2, err
    # the last process using it stopped it on exit: the server it started, not the one that died
    wait_until(lambda: postmaster(pgdata)[0] is None, 10, "the server to be stopped by the exiting watch")


# A follower asks for the leadership lock every 5 s (the engine's leadership loop):
# the roles are looked at once a follower has asked since the database came back.
FOLLOWER_ASKS_EVERY = 5.0


@pytest.mark.timeout(240)
def test_two_watches_through_one_outage_one_leader_and_no_duplicates(tmp_path, health_server, data_dir):
    base, _ = health_server
    pgdata = data_dir / "pg"
    cfg = write_config(tmp_path, base, data_dir, interval=PROBE_EVERY)
    one = Watch(cfg)
    one.wait_for(lambda: any("(leader)" in ln for ln in one.lines), 60, "the first watch to lead")
    two = Watch(cfg)
    try:
        two.wait_for(lambda: any("(follower)" in ln for ln in two.lines), 60, "the second watch to follow")
        url = url_of(pgdata)
        flowing = datetime.now(timezone.utc)
        one.wait_for(lambda: written_past(url, flowing), 30, "the first probes written")
        time.sleep(BEFORE)
        down, back, killed = outage_under(
            pgdata, until=lambda: all("database unavailable" in w.lines[-1] for w in (one, two)))
        start, end, expected = probe_span(down, back)

        def leader_locks() -> int:
            with psycopg.connect(url) as c:
                return c.execute("select count(*) from pg_locks where locktype = 'advisory' and granted").fetchone()[0]

        def settled() -> bool:
            roles = [one.lines[-1], two.lines[-1]]
            return (all("database unavailable" not in r for r in roles) and sum("(leader)" in r for r in roles) == 1
                    and written_past(url, end) and leader_locks() == 1)

        # both back, the leader's buffer written, leadership settled (and a follower has asked since)
        wait_until(lambda: datetime.now(timezone.utc) > back + timedelta(seconds=FOLLOWER_ASKS_EVERY + 0.5), 30,
                   "a follower's turn to ask for the lead")
        one.wait_for(settled, 30, "both watches back, one leading, the buffer written")
        n, dup, gap = kept(url, start, end)
        print(f"\ntwo watches: outage {(back - down).total_seconds():.1f} s;"
              f" probes kept {n} / expected {expected:.0f} ({100 * n / expected:.1f} %); longest gap {gap:.2f} s")
        assert n >= 0.95 * expected and dup == 0
        with psycopg.connect(url) as c:
            total, distinct = c.execute(
                "select count(*), count(distinct (target, at)) from gonogo.probe_results").fetchone()
        assert total == distinct
        assert leader_locks() == 1  # exactly one leader's lock
        roles = [one.lines[-1], two.lines[-1]]
        assert sum("(leader)" in r for r in roles) == 1 and sum("(follower)" in r for r in roles) == 1, roles
        assert all("database unavailable" not in r for r in roles), roles
    finally:
        err2 = two.stop()
        err1 = one.stop()
    assert "Traceback" not in err1 + err2
    # Both watched the server; one of them started it each time, the other found it running.
    assert "started again" in err1 + err2
