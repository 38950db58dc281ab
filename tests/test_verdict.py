from datetime import datetime, timedelta, timezone

import pytest

from checks.breach import sustained_breach
from checks.models import Band, GateReading, Verdict
from checks.verdict import reasons, verdict

G, Y, R, U = Band.GREEN, Band.YELLOW, Band.RED, Band.UNKNOWN


@pytest.mark.parametrize(
    "bands,expected",
    [
        ([G, G, G], Verdict.GO),
        ([G, Y, G], Verdict.HOLD),
        ([G, U, G], Verdict.HOLD),  # unknown is never green
        ([Y, U], Verdict.HOLD),
        ([G, R], Verdict.ROLLBACK),
        ([Y, R, U], Verdict.ROLLBACK),
        ([], Verdict.HOLD),  # no gates is no evidence
    ],
)
def test_verdict_rule(bands, expected):
    assert verdict(bands) is expected


def test_reasons_worst_first_and_name_why():
    rs = reasons(
        [
            GateReading(name="a", value=0.01, band=G, unit="%"),
            GateReading(name="b", value=300, band=Y, unit="ms"),
            GateReading(name="c", value=None, band=U, detail="HTTP 503"),
            GateReading(name="d", value=2.0, band=R, unit="%"),
            GateReading(name="e", value=1.0, band=U, stale=True),
        ]
    )
    assert rs == ("d red (2.00 %)", "c unknown (HTTP 503)", "e unknown (stale)", "b yellow (300 ms)")


T0 = datetime(2026, 1, 1, 3, 0, tzinfo=timezone.utc)


def series(*flags, step=timedelta(minutes=1)):
    return [(T0 + i * step, f) for i, f in enumerate(flags)]


def test_one_spike_never_breaches():
    ev = series(False, False, True, False, False)
    assert not sustained_breach(ev, now=T0 + timedelta(minutes=10), sustain=timedelta(minutes=5), consecutive=3)


def test_breach_needs_both_count_and_duration():
    ev = series(True, True, True)  # 3 in a row over 2 minutes
    assert not sustained_breach(ev, now=T0 + timedelta(minutes=2), sustain=timedelta(minutes=5), consecutive=3)
    ev = series(True, True, True, True, True, True)  # 6 in a row over 5 minutes
    assert sustained_breach(ev, now=T0 + timedelta(minutes=5), sustain=timedelta(minutes=5), consecutive=3)
    # long enough but too few evaluations
    ev = series(True, True, step=timedelta(minutes=10))
    assert not sustained_breach(ev, now=T0 + timedelta(minutes=20), sustain=timedelta(minutes=5), consecutive=3)


def test_a_recovery_resets_the_run():
    ev = series(True, True, True, True, False, True, True, True)
    assert not sustained_breach(ev, now=T0 + timedelta(minutes=8), sustain=timedelta(minutes=5), consecutive=3)


@pytest.mark.parametrize("value,unit,gate,shown", [
    (99.979, "%", "uptime_burn_in", "99.979 %"),  # not "99.98 %", which would read green
    (99.9851, "%", "uptime_burn_in", "99.99 %"),
    (100.0, "%", "uptime", "100 %"),
    (99.9999, "%", "uptime", "99.9999 %"),  # not "100 %": it is yellow
    (0.0999, "%", "error_rate", "0.0999 %"),  # not "0.100 %": it is green
    (199.6, "ms", "p95_latency", "199.6 ms"),  # not "200 ms": it is green
    (500.4, "ms", "p95_latency", "500.4 ms"),  # not "500 ms": it is red
    (312.2, "ms", "p95_latency", "312 ms"),
])
def test_shown_value_agrees_with_its_band(value, unit, gate, shown):
    from checks.bands import judge
    from checks.day1 import DAY1_BANDS
    from checks.models import Bands, Condition
    from checks.verdict import format_value

    bands = DAY1_BANDS.get(gate) or Bands(green=Condition.parse(">= 99.98"), red=Condition.parse("< 99.9"))
    text = format_value(value, unit, bands)
    assert text == shown
    assert judge(float(text.split()[0]), bands) is judge(value, bands)


def test_a_gap_in_the_evaluations_breaks_the_run():
    # red before and after 20 unobserved minutes: nobody saw a sustained breach
    ev = series(True, True, True) + [(T0 + timedelta(minutes=23 + i), True) for i in range(3)]
    now = T0 + timedelta(minutes=25)
    assert sustained_breach(ev, now=now, sustain=timedelta(minutes=5), consecutive=3)  # without a gap limit
    assert not sustained_breach(ev, now=now, sustain=timedelta(minutes=5), consecutive=3,
                                max_gap=timedelta(minutes=2))
