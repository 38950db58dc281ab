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
