"""Config value types: durations with bounds, URLs, names, headers, date-times; each validator says what is wrong in words."""
from __future__ import annotations

import re
from datetime import (
    date,
    datetime,
    timedelta,
    timezone,
)
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict

from ..durations import DurationTooLong, format_duration, parse_duration
from ..secrets import mask_url




class Section(BaseModel):
    """The base of every section: a typo in a key must not be silently ignored, and "7" is not 7."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class KeyProblem(ValueError):
    """An error that knows which key it belongs to.

    `loc` is relative to where the validator ran: a field validator's loc is
    appended to the field's (e.g. `(2,)` for the third item of a list), a model
    validator's to the model's (e.g. `("green",)` inside a gate), and the root
    Config's is the whole path."""

    def __init__(self, loc: tuple, msg: str):
        super().__init__(msg)
        self.loc = tuple(loc)
        self.msg = msg


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

# What PostgreSQL and the clock arithmetic hold comfortably, and far beyond any sane
# setting: a 2-day timeout is a typo, and a 10-year window overflows nothing.
MAX_TIMEOUT = timedelta(hours=24)
MAX_INTERVAL = timedelta(hours=24)
MAX_WINDOW = timedelta(days=400)
MIN_REFRESH = timedelta(milliseconds=100)


def _duration_within(what: str, most: timedelta, least: timedelta | None = None) -> BeforeValidator:
    """A duration that is at most `most` (and at least `least`); the message
    names the bound and the value as written."""

    def parse(v: object) -> timedelta:
        too_long = f"{v!r} is too long for {what}: the most is {_bound(most)}"
        try:
            td = parse_duration(v)
        except DurationTooLong:
            raise ValueError(too_long) from None
        if td > most:
            raise ValueError(too_long)
        if least is not None and td < least:
            raise ValueError(f"{v!r} is too short for {what}: the least is {_bound(least)}")
        return td

    return BeforeValidator(parse)


def _bound(td: timedelta) -> str:
    """A bound as people say it: 24h rather than 1d, 400d, 100ms."""
    hours = td.total_seconds() / 3600
    return f"{hours:g}h" if hours.is_integer() and 1 <= hours <= 48 else format_duration(td)


Timeout = Annotated[timedelta, _duration_within("a timeout", MAX_TIMEOUT)]
Interval = Annotated[timedelta, _duration_within("an interval", MAX_INTERVAL)]
Window = Annotated[timedelta, _duration_within("a window", MAX_WINDOW)]


def _durations(v: object) -> timedelta | list[timedelta]:
    """`soak`: one duration, or a list of them (one per step); a bad item is named."""
    soak = _duration_within("a soak", MAX_WINDOW).func
    if isinstance(v, list):
        out = []
        for i, item in enumerate(v):
            try:
                out.append(soak(item))
            except ValueError as e:
                raise KeyProblem((i,), str(e)) from None
        return out
    if isinstance(v, (str, timedelta, int, float)) and not isinstance(v, bool):
        return soak(v)
    raise ValueError(f'give one duration like "12h", or a list with one per step, not {v!r}')


def _http_url(v: object) -> str:
    if not isinstance(v, str):
        raise ValueError(f'a URL must be a string like "http://127.0.0.1:8080/health", not {v!r}')
    if v == "":
        return v
    shown = mask_url(v)
    if any(c.isspace() for c in v):
        raise ValueError(f"{shown!r} contains a space; a URL cannot")
    if _CONTROL.search(v):
        raise ValueError(f"{shown!r} contains a control character; a URL cannot")
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https"):
        given = f"uses {parts.scheme}://" if parts.scheme else "is not a URL"
        raise ValueError(f"{shown!r} {given}; it must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"{shown!r} has no host; write it like http://127.0.0.1:8080/...")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"{shown!r} has a bad port; a port is a number from 1 to 65535")
    return v


def check_db_url(v: object) -> str:
    if not isinstance(v, str):
        raise ValueError(f"a database URL must be a string, not {v!r}")
    if v:
        scheme = urlsplit(v).scheme if "://" in v else ""
        if scheme not in ("postgresql", "postgres"):
            given = f"uses {scheme}://" if scheme else "is not a URL"
            raise ValueError(
                f"{mask_url(v)!r} {given}; a database URL must start with postgresql:// "
                "(or be empty for the embedded server)"
            )
    return v


def _aware_datetime(v: object) -> datetime:
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v.strip())
        except ValueError:
            raise ValueError(f"{v!r} is not a date-time; write it like \"2025-11-11T16:00:00Z\"") from None
    elif isinstance(v, date) and not isinstance(v, datetime):
        raise ValueError(f"{v.isoformat()} is a date without a time; write it like \"{v.isoformat()}T16:00:00Z\"")
    if not isinstance(v, datetime):
        raise ValueError(f'a date-time must be a string like "2025-11-11T16:00:00Z", not {v!r}')
    if v.tzinfo is None:
        raise ValueError(f"{v.isoformat()} has no time zone; add Z or an offset like +00:00")
    try:
        v.astimezone(timezone.utc)  # 9999-12-31T23:00-05:00 is past what a datetime holds
    except OverflowError:
        raise ValueError(f"{v.isoformat()} is out of range; a date-time must fall within the years 1-9999 in UTC") from None
    return v


# C0, DEL, C1, bidirectional controls and line/paragraph separators (what
# widgets.literal escapes): a name is shown on screens, in reports and in the audit
# trail, where such a character hides or rewrites text.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _no_control(v: object, what: str = "a name") -> object:
    if isinstance(v, str):
        m = _CONTROL.search(v)
        if m:
            raise ValueError(
                f"{v!r} contains a control character ({m.group(0)!r}); {what} is shown on screens and in "
                "the audit trail, so it cannot hold one"
            )
    return v


def _name(v: object) -> str:
    if isinstance(v, str) and (not v.strip() or v != v.strip()):
        raise ValueError(f"{v!r}: a name cannot be empty or start or end with spaces")
    return _no_control(v)  # type: ignore[return-value]


# RFC 7230 token; gonogo frames its requests itself, so these are not the config's.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


def _headers(v: object) -> dict[str, str]:
    """`headers = { Authorization = "Bearer ${TOKEN}" }`: names are tokens, values
    printable ASCII (no CR, LF or NUL: no header injection). A value is never put
    in a message: it is a secret."""
    if not isinstance(v, dict):
        raise ValueError('headers is a table of names and values, like headers = { Authorization = "Bearer ${TOKEN}" }')
    seen: dict[str, str] = {}
    for name, value in v.items():
        if not _HEADER_NAME.fullmatch(name):
            raise KeyProblem((name,), f"{name!r} is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)")
        if name.lower() in _RESERVED_HEADERS:
            raise KeyProblem((name,), f"{name!r} is set by gonogo itself; it cannot be configured")
        if name.lower() in seen:
            raise KeyProblem((name,), f"{name!r} is given twice (header names ignore case; see {seen[name.lower()]!r})")
        seen[name.lower()] = name
        if not isinstance(value, str):
            raise KeyProblem((name,), f"the value of header {name!r} must be a string in quotes")
        bad = re.search(r"[^\t\x20-\x7e]", value)
        if bad:
            kind = "a non-ASCII character" if ord(bad.group(0)) > 0x9F else f"a control character ({bad.group(0)!r})"
            raise KeyProblem(
                (name,),
                f"the value of header {name!r} contains {kind}; header values are printable ASCII "
                "(no CR, LF or NUL) (the value is not shown: header values are secret)",
            )
    return v  # type: ignore[return-value]


HttpUrl = Annotated[str, BeforeValidator(_http_url)]
DbUrl = Annotated[str, BeforeValidator(check_db_url)]
AwareDatetime = Annotated[datetime, BeforeValidator(_aware_datetime)]
Name = Annotated[str, BeforeValidator(_name)]
Headers = Annotated[dict[str, str], BeforeValidator(_headers)]
