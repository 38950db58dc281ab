"""Every boundary of the Day-1 matrix, exactly as the rollout plan writes it."""
import math

import pytest
from hypothesis import given, strategies as st

from checks.bands import check_bands, judge
from checks.day1 import DAY1_BANDS
from checks.models import Band, Bands, Condition

G, Y, R = Band.GREEN, Band.YELLOW, Band.RED

DAY1_TABLE = [
    # error rate: < 0.1 green, 0.1 - 1.0 yellow, > 1.0 red
    ("error_rate", 0.0, G), ("error_rate", 0.0999, G), ("error_rate", 0.1, Y),
    ("error_rate", 0.5, Y), ("error_rate", 1.0, Y), ("error_rate", 1.0001, R), ("error_rate", 50, R),
    # p95: < 200 green, 200 - 500 yellow, > 500 red
    ("p95_latency", 199.9, G), ("p95_latency", 200, Y), ("p95_latency", 500, Y), ("p95_latency", 500.1, R),
    # test pass rate: >= 98 green, 95 - 98 yellow, < 95 red
    ("test_pass_rate", 100, G), ("test_pass_rate", 98, G), ("test_pass_rate", 97.99, Y),
    ("test_pass_rate", 95, Y), ("test_pass_rate", 94.99, R),
    # health checks passing as % of targets: 5/5 green, 4/5 yellow, < 4/5 red
    ("checks_passing", 100, G), ("checks_passing", 80, Y), ("checks_passing", 60, R), ("checks_passing", 79.9, R),
    # critical alerts: 0 green, 1 - 2 yellow, >= 3 red
    ("critical_alerts", 0, G), ("critical_alerts", 1, Y), ("critical_alerts", 2, Y), ("critical_alerts", 3, R),
    # uptime: 100 green, >= 99.9 yellow, < 99.9 red
    ("uptime", 100, G), ("uptime", 99.99, Y), ("uptime", 99.9, Y), ("uptime", 99.89, R),
]


@pytest.mark.parametrize("gate,value,band", DAY1_TABLE)
def test_day1_boundaries(gate, value, band):
    assert judge(value, DAY1_BANDS[gate]) is band


def test_missing_stale_or_nan_is_unknown_never_green():
    b = DAY1_BANDS["error_rate"]
    assert judge(None, b) is Band.UNKNOWN
    assert judge(0.0, b, stale=True) is Band.UNKNOWN
    assert judge(math.nan, b) is Band.UNKNOWN
    assert judge(0.0, None) is Band.UNKNOWN


@pytest.mark.parametrize("text,op,t", [("< 0.1", "<", 0.1), (">=98", ">=", 98), ("  <= 0 ", "<=", 0), ("> -1.5", ">", -1.5)])
def test_condition_parse(text, op, t):
    c = Condition.parse(text)
    assert (c.op, c.threshold) == (op, t)


@pytest.mark.parametrize("text", ["0.1", "< x", "== 3", "<", "", "<< 1"])
def test_condition_parse_rejects(text):
    with pytest.raises(ValueError):
        Condition.parse(text)


@pytest.mark.parametrize("green,red", [("< 5", "< 1"), ("> 5", ">= 9"), ("< 5", "> 1"), (">= 98", "<= 99"), ("<= 1", ">= 1")])
def test_check_bands_rejects_same_direction_or_overlap(green, red):
    with pytest.raises(ValueError):
        check_bands(Condition.parse(green), Condition.parse(red))


@pytest.mark.parametrize("green,red", [("< 0.1", "> 1.0"), (">= 98", "< 95"), ("<= 0", ">= 3"), ("< 1", ">= 1")])
def test_check_bands_accepts(green, red):
    check_bands(Condition.parse(green), Condition.parse(red))


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9))
def test_every_value_gets_exactly_one_band(v):
    for bands in DAY1_BANDS.values():
        band = judge(v, bands)
        assert band in (G, Y, R)
        assert (band is G) == (bands.green.holds(v) and not bands.red.holds(v))
