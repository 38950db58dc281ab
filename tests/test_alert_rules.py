"""The console's own alert rules, decided from values (checks/alert_rules.py)."""
from datetime import datetime, timedelta, timezone

from checks.alert_rules import burst_alert, cost_alert, error_rate_alert, event_alert, gate_alerts
from checks.breach import assess
from checks.models import Band, Bands, Condition, GateReading
from checks.sql_result import event_rows

BANDS = Bands(green=Condition.parse("< 0.1"), red=Condition.parse("> 1.0"))


def reading(name, value, band):
    return GateReading(name=name, value=value, band=band, unit="%", bands=BANDS)


def test_red_and_yellow_gates_fire_green_and_unknown_do_not():
    got = gate_alerts([reading("a", 2.0, Band.RED), reading("b", 0.5, Band.YELLOW),
                       reading("c", 0.0, Band.GREEN), reading("d", None, Band.UNKNOWN)])
    assert [(f.fingerprint, f.severity, f.name) for f in got] == [
        ("rule:gate:a", "critical", "a red"), ("rule:gate:b", "warning", "b yellow")]
    assert got[0].summary == "2.00 % (green < 0.1)"


def test_thresholds_fire_only_beyond_their_limit():
    assert error_rate_alert(0.5, "5/1000 failed", 0.5) is None
    assert error_rate_alert(None, "no probes", 0.5) is None
    assert error_rate_alert(0.51, "6/1000 failed", 0.5).summary == "0.51 % > 0.5 % (6/1000 failed)"
    assert burst_alert(5, 5) is None and burst_alert(6, 5).severity == "warning"
    assert cost_alert(None, 10) is None and cost_alert(10.0, 10) is None
    assert cost_alert(12.5, 10).summary == "$12.50 today > $10.00"


def test_an_event_is_known_by_its_time_name_and_summary():
    at = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)
    a, b, c = (event_alert(e) for e in event_rows([(at, "P1", "db down", "x"), (at, "P2", "db down", "x"),
                                                    (at, "P1", "db down", "y")]))
    assert a.fingerprint == b.fingerprint != c.fingerprint and a.severity == "P1"


def test_auto_rollback_fires_on_a_sustained_red_run_only():
    now = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)
    red = [(now - timedelta(seconds=s), 2.0, "red") for s in (12, 11, 10, 9, 8)]
    blip = [(now - timedelta(seconds=s), 2.0 if s < 3 else 0.0, "red" if s < 3 else "green") for s in (5, 4, 3, 2, 1)]
    seen = assess({"error_rate": red, "p95_latency": blip}, ["error_rate", "p95_latency"], now=now,
                  sustain=timedelta(seconds=10), consecutive=3, max_gap=timedelta(seconds=3))
    assert seen.firing == "error_rate" and seen.firing_values == (2.0,) * 5
    assert [(r.gate, r.evaluations) for r in seen.runs] == [("error_rate", 5), ("p95_latency", 2)]
    quiet = assess({"p95_latency": blip}, ["error_rate", "p95_latency"], now=now,
                   sustain=timedelta(seconds=10), consecutive=3, max_gap=timedelta(seconds=3))
    assert quiet.firing is None
