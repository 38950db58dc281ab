"""Every transition and every refusal of the rollout state machine (pure)."""
from datetime import datetime, timedelta, timezone

import pytest

from checks.audit import GENESIS, event_hash, first_broken
from checks.models import Verdict
from checks.rollout import Refusal, RolloutState, Transition, decide

STEPS = (0, 5, 10, 25, 50, 75, 100)
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)
SOAK = 12 * 3600


def st(pct=10, state="soaking", soaked=SOAK, version=7):
    return RolloutState(flag="f", percentage=pct, state=state, version=version, stage_started_at=NOW - timedelta(seconds=soaked),
                        soak_elapsed_s=0, soak_resumed_at=NOW - timedelta(seconds=soaked) if state == "soaking" else None)


def go(action, s, verdict=Verdict.GO, **kw):
    return decide(action, s, steps=STEPS, soak_seconds=SOAK, verdict=verdict, now=NOW, **kw)


def test_advance_after_soak_on_go_moves_one_step_and_restarts_the_soak():
    t = go("advance", st())
    assert isinstance(t, Transition) and (t.from_pct, t.to_pct) == (10, 25)
    assert t.new.state == "soaking" and t.new.version == 8 and t.new.soak_resumed_at == NOW
    assert t.description == "10 % → 25 % of f" and not t.override


def test_advance_refused_before_soak_and_on_hold_verdict_saying_why():
    r = go("advance", st(soaked=SOAK - 3 * 3600 - 12 * 60), Verdict.HOLD, verdict_why="p95_latency yellow")
    assert isinstance(r, Refusal) and r.overridable
    assert r.reason == "soak has 3h 12m left; verdict HOLD: p95_latency yellow"


def test_override_lets_it_through_and_is_recorded_as_such():
    t = go("advance", st(soaked=60), Verdict.ROLLBACK, override=True)
    assert isinstance(t, Transition) and t.override and t.to_pct == 25
    t = go("advance", st(), override=True)  # nothing to override: not marked
    assert isinstance(t, Transition) and not t.override


def test_first_advance_from_idle_and_from_rolled_back_goes_to_the_first_step():
    for state in ("idle", "rolled_back"):
        t = go("advance", st(pct=0, state=state, soaked=0))
        assert isinstance(t, Transition) and t.to_pct == 5 and t.new.state == "soaking"
        assert isinstance(go("advance", st(pct=0, state=state), Verdict.HOLD), Refusal)


def test_last_step_is_complete_and_cannot_advance():
    t = go("advance", st(pct=75))
    assert t.new.state == "complete" and t.to_pct == 100
    r = go("advance", t.new)
    assert isinstance(r, Refusal) and "last step" in r.reason and not r.overridable


def test_hold_pauses_the_soak_clock_and_resume_continues_it():
    s = st(soaked=3600)
    held = go("hold", s).new
    assert held.state == "held" and held.soak_resumed_at is None and held.soak_elapsed_s == 3600
    later = NOW + timedelta(hours=5)
    assert held.soak_elapsed(later) == 3600  # paused
    resumed = decide("resume", held, steps=STEPS, soak_seconds=SOAK, verdict=Verdict.GO, now=later).new
    assert resumed.state == "soaking" and resumed.soak_elapsed(later + timedelta(hours=1)) == 7200
    r = go("advance", held)
    assert isinstance(r, Refusal) and "resume it first" in r.reason


@pytest.mark.parametrize("state", ["idle", "held", "rolled_back", "complete"])
def test_hold_refused_unless_soaking(state):
    assert isinstance(go("hold", st(state=state)), Refusal)


@pytest.mark.parametrize("state", ["idle", "soaking", "rolled_back", "complete"])
def test_resume_refused_unless_held(state):
    assert isinstance(go("resume", st(state=state)), Refusal)


@pytest.mark.parametrize("state,pct", [("idle", 0), ("soaking", 50), ("held", 25), ("rolled_back", 0), ("complete", 100)])
def test_rollback_always_allowed_to_zero_at_once(state, pct):
    t = go("rollback", st(pct=pct, state=state), Verdict.GO)
    assert isinstance(t, Transition) and t.to_pct == 0 and t.new.state == "rolled_back"


def _chain(n):
    rows, prev = [], GENESIS
    for i in range(n):
        ev = dict(id=i + 1, at=f"2026-11-25T0{i}:00:00+00:00", flag="f", operator="alice", action="advance",
                  from_pct=i, to_pct=i + 1, reason="ok", verdict="GO", gates={"error_rate": 0.01},
                  automatic=False, override=False)
        ev["prev_hash"], ev["hash"] = prev, event_hash(prev, ev)
        prev = ev["hash"]
        rows.append(ev)
    return rows


def test_intact_chain_verifies_and_tampering_is_found_at_the_first_bad_row():
    rows = _chain(5)
    assert first_broken(rows) is None
    edited = [dict(r) for r in rows]
    edited[2]["reason"] = "nothing to see"
    assert first_broken(edited)[0] == 3
    removed = rows[:1] + rows[2:]
    assert first_broken(removed)[0] == 3
