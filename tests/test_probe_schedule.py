"""console.engine.probe_schedule: pure functions of a target's name, its interval and
the time. Offsets are stable across processes and spread targets over their
interval; the next probe keeps to the grid, skips when behind, never bursts."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from console.engine.probe_schedule import (
    STARTUP_SPREAD_MAX,
    STARTUP_SPREAD_PER_TARGET,
    next_probe,
    offset,
    slot_at_or_after,
    startup_delay,
)

REPO = Path(__file__).resolve().parents[1]
NAMINGS = ["t{}", "t{:03d}", "api-{}", "svc{}.example.com", "node-{}-health", "{}"]


def most_in_a_window(points: list[float], width: float, period: float) -> int:
    """The most points (times modulo `period`) inside any window of `width`."""
    pts = sorted(p % period for p in points)
    wrapped = pts + [p + period for p in pts]
    best, j = 0, 0
    for i, p in enumerate(pts):
        j = max(j, i)
        while j < len(wrapped) and wrapped[j] < p + width:
            j += 1
        best = max(best, j - i)
    return best


def is_slot(t: float, interval: float, off: float) -> bool:
    k = (t - off) / interval
    return math.isclose(k, round(k), abs_tol=1e-9)


# -- offsets ---------------------------------------------------------------------


def test_offset_is_within_the_interval_and_scales_with_it():
    for name in ["api", "auth", "a" * 200, "ünïcødé", ""]:
        for interval in (0.5, 1.0, 15.0, 86400.0):
            o = offset(name, interval)
            assert 0 <= o < interval
        assert math.isclose(offset(name, 15.0), 15 * offset(name, 1.0))


def test_offset_is_the_same_in_another_process_with_another_hash_seed():
    names = ["api", "auth", "billing", "search", "worker"]
    code = (
        "import json, sys\n"
        "from console.engine.probe_schedule import offset\n"
        "print(json.dumps([offset(n, 15.0) for n in json.loads(sys.argv[1])]))\n"
    )
    import json

    seen = []
    for seed in ("1", "2"):  # str hashes differ between these; the offsets must not
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(names)], cwd=REPO, capture_output=True, text=True,
            env={**os.environ, "PYTHONHASHSEED": seed}, timeout=60, check=True,
        )
        seen.append(json.loads(out.stdout))
    assert seen[0] == seen[1] == [offset(n, 15.0) for n in names]


def test_targets_sharing_an_interval_are_spread_over_it():
    n, interval = 100, 1.0
    for naming in NAMINGS:
        offsets = [offset(naming.format(i), interval) for i in range(n)]
        assert len(set(offsets)) == n, naming
        # Not one instant: a hundredth of the interval holds a handful at most (one on
        # average) ...
        assert most_in_a_window(offsets, interval / 100, interval) <= n // 20, naming
        # ... and every fifth of it holds roughly its fifth.
        for k in range(5):
            inside = sum(k / 5 <= o < (k + 1) / 5 for o in offsets)
            assert n * 0.1 <= inside <= n * 0.3, (naming, k, inside)


# -- the next probe ----------------------------------------------------------------


def test_first_probe_is_the_next_slot():
    off = offset("api", 1.0)
    t = next_probe(None, 1000.0, 1.0, off)
    assert 1000.0 <= t < 1001.0 and is_slot(t, 1.0, off)


def test_on_time_the_next_slot_follows_the_last():
    interval, off = 5.0, offset("api", 5.0)
    slot = slot_at_or_after(1000.0, interval, off)
    for took in (0.0, 0.01, interval / 2):  # the probe ran this long
        assert math.isclose(next_probe(slot, slot + took, interval, off), slot + interval)


def test_a_little_late_probes_at_once_on_the_missed_slot():
    interval, off = 1.0, offset("api", 1.0)
    slot = slot_at_or_after(1000.0, interval, off)
    now = slot + interval + 0.3  # the next slot passed 0.3 s ago (a busy loop)
    t = next_probe(slot, now, interval, off)
    assert math.isclose(t, slot + interval) and t <= now  # at once, one probe


def test_far_behind_skips_to_the_next_slot_ahead():
    interval, off = 1.0, offset("api", 1.0)
    slot = slot_at_or_after(1000.0, interval, off)
    now = slot + 3.7  # a probe that took 3.7 s: slots +1, +2, +3 are gone
    t = next_probe(slot, now, interval, off)
    assert now <= t < now + interval and is_slot(t, interval, off)


def test_a_start_off_the_grid_joins_it_no_sooner_than_half_an_interval():
    interval, off = 15.0, offset("api", 15.0)
    started = 1000.0  # run()'s first probe, at start-up, off the grid
    t = next_probe(started, started + 0.2, interval, off)
    assert is_slot(t, interval, off)
    assert started + interval / 2 <= t < started + 1.5 * interval


@settings(max_examples=200, deadline=None)
@given(
    interval=st.sampled_from([0.5, 1.0, 5.0, 15.0]),
    durations=st.lists(st.floats(min_value=0.0, max_value=4.0), min_size=1, max_size=60),
    lag=st.lists(st.floats(min_value=0.0, max_value=0.3), min_size=1, max_size=60),
)
def test_simulated_loop_keeps_the_grid_and_never_bursts(interval, durations, lag):
    """The probe loop as the engine runs it: sleep to next_probe, wake (maybe late),
    probe for a while. Probes of one target never come closer than half an interval,
    never more than two in any interval, and each starts at a slot or at most half an
    interval after one."""
    off = offset("api", interval)
    now, last, starts = 1000.0, None, []
    for i, took in enumerate(durations):
        due = next_probe(last, now, interval, off)
        start = max(now, due) + lag[i % len(lag)] * interval
        starts.append(start)
        last = start
        now = start + took * interval
    for a, b in zip(starts, starts[1:]):
        assert b - a >= interval / 2 - 1e-9
    for s in starts:
        assert sum(s <= t < s + interval for t in starts) <= 2
        behind = (s - off) % interval
        assert behind <= interval / 2 + 0.3 * interval + 1e-9


@settings(max_examples=100, deadline=None)
@given(interval=st.sampled_from([1.0, 15.0]), lag=st.floats(min_value=0, max_value=0.4))
def test_simulated_fast_probes_are_exactly_one_interval_apart(interval, lag):
    """Probes quicker than their interval, woken up to 0.4 interval late each time:
    one probe per slot, none skipped."""
    off = offset("api", interval)
    now, last, slots = 1000.0, None, []
    for _ in range(30):
        due = next_probe(last, now, interval, off)
        slots.append(due)
        last = max(now, due) + lag * interval
        now = last + 0.05 * interval
    for a, b in zip(slots, slots[1:]):
        assert math.isclose(b - a, interval)


# -- start-up -----------------------------------------------------------------------


def test_startup_is_spread_but_brief():
    for n in (1, 5, 100, 300):
        names = [f"t{i}" for i in range(n)]
        delays = [startup_delay(name, 15.0, n) for name in names]
        spread = min(STARTUP_SPREAD_MAX, STARTUP_SPREAD_PER_TARGET * n)
        assert all(0 <= d < spread for d in delays)
        if n >= 100:  # a hundredth of the spread holds a handful at most
            assert most_in_a_window(delays, spread / 100, 2 * spread) <= n // 20


def test_startup_never_waits_longer_than_the_interval():
    assert startup_delay("api", 0.2, 300) < 0.2
