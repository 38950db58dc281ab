"""The one spelling of a duration on screen (checks.durations.duration_text)."""
import re
from datetime import timedelta as td

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.durations import duration_text

_SIZE = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"^(\d+)([dhms])$")


@pytest.mark.parametrize("seconds, kw, text", [
    (0, {}, "0s"),
    (9, {}, "9s"),
    (9.99, {}, "9s"),  # cut down, never rounded up
    (90, {}, "1m 30s"),
    (245, {}, "4m 05s"),
    (300, {}, "5m"),  # a configured duration reads as it was written
    (3 * 3600 + 12 * 60 + 59, {}, "3h 12m"),
    (12 * 3600, {}, "12h"),
    (2 * 86400 + 3 * 3600 + 14 * 60 + 5, {}, "2d 03h"),
    (2 * 86400 + 14 * 60, {}, "2d"),
    (2 * 86400 + 3 * 3600 + 14 * 60 + 5, {"units": 4, "fixed": True}, "2d 03h 14m 05s"),
    (13 * 3600, {"units": 4, "fixed": True}, "13h 00m 00s"),  # a countdown keeps its width
    (5, {"units": 4, "fixed": True}, "5s"),
    (3 * 3600, {"fixed": True}, "3h 00m"),
    (2 * 86400 + 5 * 60, {"units": 3}, "2d 00h 05m"),
    (5.1 * 86400, {"units": 1}, "5d"),
    (7199.999999999, {}, "2h"),  # float noise is not a second less
    (-30, {}, "0s"),
    (float("nan"), {}, "?"),
    (td(minutes=90), {}, "1h 30m"),
])
def test_duration_text_reads_as_the_table_says(seconds, kw, text):
    assert duration_text(seconds, **kw) == text


def _parsed(text: str) -> tuple[int, list[str]]:
    total, units = 0, []
    for i, part in enumerate(text.split(" ")):
        n, unit = _PART.match(part).groups()
        assert i == 0 or len(n) == 2, f"{text!r}: a smaller unit has two digits"
        assert i > 0 or n == "0" or not n.startswith("0"), f"{text!r}: the first unit is not padded"
        total += int(n) * _SIZE[unit]
        units.append(unit)
    return total, units


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=4))
def test_what_is_shown_is_the_duration_cut_down_to_its_last_unit(seconds, units):
    fixed = duration_text(seconds, units=units, fixed=True)
    shown, names = _parsed(fixed)
    assert 1 <= len(names) <= units
    assert len(names) == units or names[-1] == "s"  # fewer only when the seconds are reached
    assert all(_SIZE[a] // _SIZE[b] in (24, 60) for a, b in zip(names, names[1:])), "largest first, none skipped"
    assert shown <= seconds < shown + _SIZE[names[-1]]
    assert names[0] == "s" or fixed.split(" ")[0][0] != "0", "the first unit is not zero"
    trimmed = duration_text(seconds, units=units)  # the zero units at the end left off, the value the same
    assert fixed.startswith(trimmed) and _parsed(trimmed)[0] == shown
    assert trimmed == fixed or not re.search(r"\b0+[dhms]$", trimmed)


@given(st.integers(min_value=0, max_value=10**9))
def test_four_fixed_units_are_exact(seconds):
    assert _parsed(duration_text(seconds, units=4, fixed=True))[0] == seconds


@given(st.integers(min_value=-10**6, max_value=10**9), st.integers(min_value=1, max_value=4))
def test_a_timedelta_reads_as_its_seconds(seconds, units):
    assert duration_text(td(seconds=seconds), units=units) == duration_text(seconds, units=units)
