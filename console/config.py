"""config.toml: parsed with tomllib, validated by pydantic, every error named by file
and key (and line where one can be found), never a traceback.

How a bad config is reported (the CLI prints the message and exits 2):

    config.toml: [[targets]] #2 ('auth'), key 'interval' (line 31): '5x' is not a duration; ...

- the file, then where: `top level`, `[section], key 'k'`, `[[targets]] #N ('name'),
  key 'k'`, and `item N` for one element of a list (1-based, as people count);
- the line where that key (or failing that, its table) is written; none when the
  value is a default that the file does not spell out;
- one reason, and a count of further problems when there are several.

Values are strictly typed: TOML has real integers, floats, booleans and strings, so
`days = "7"` is refused rather than quietly converted, and a typo in a key name is
refused rather than ignored (with the nearest known key suggested). Durations are
strings with a unit (see console.durations). Date-times (burn_in start / review) are
strings or TOML date-times and must carry a time zone. Anything that could hold a
password (URLs, libpq strings) is masked in every message.

Bounds: the file is a regular file of at most 1 MiB, nested at most 32 levels of
[ ] / { }; timeouts and intervals are at most 24 h, windows, soaks and retention at
most 400 days, `[console] refresh` at least 100 ms, a burn-in at most 3650 days
(and ending before the year 10000); names, the flag and the operator hold no
control character. Each message names the bound.

Secrets: any string value may use `${NAME}` (the environment variable NAME; `$${`
is a literal `${`), substituted before validation; an unset variable is an error.
A value taken from the environment is registered as a secret (see console.secrets)
and an error shows the `${NAME}` written in the file, never the value. `headers`
(on [[targets]], [prometheus], [alertmanager] and the http [actuator]) are sent
with every request; their values are secrets too.
"""
from __future__ import annotations

import difflib
import os
import re
import stat
import string
import tomllib
import typing
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from checks.bands import check_bands
from checks.day1 import DAY1_BANDS, DAY1_UNITS, PROBE_METRICS
from checks.models import Bands, Condition
from checks.sql_text import one_statement_problem

from widgets.literal import visible

from .durations import DurationTooLong, format_duration, parse_duration
from .secrets import mask_text, mask_url, register_secret


class _KeyError(ValueError):
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
                raise _KeyError((i,), str(e)) from None
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


def _db_url(v: object) -> str:
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
            raise _KeyError((name,), f"{name!r} is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)")
        if name.lower() in _RESERVED_HEADERS:
            raise _KeyError((name,), f"{name!r} is set by gonogo itself; it cannot be configured")
        if name.lower() in seen:
            raise _KeyError((name,), f"{name!r} is given twice (header names ignore case; see {seen[name.lower()]!r})")
        seen[name.lower()] = name
        if not isinstance(value, str):
            raise _KeyError((name,), f"the value of header {name!r} must be a string in quotes")
        bad = re.search(r"[^\t\x20-\x7e]", value)
        if bad:
            kind = "a non-ASCII character" if ord(bad.group(0)) > 0x9F else f"a control character ({bad.group(0)!r})"
            raise _KeyError(
                (name,),
                f"the value of header {name!r} contains {kind}; header values are printable ASCII "
                "(no CR, LF or NUL) (the value is not shown: header values are secret)",
            )
    return v  # type: ignore[return-value]


HttpUrl = Annotated[str, BeforeValidator(_http_url)]
DbUrl = Annotated[str, BeforeValidator(_db_url)]
AwareDatetime = Annotated[datetime, BeforeValidator(_aware_datetime)]
Name = Annotated[str, BeforeValidator(_name)]
Headers = Annotated[dict[str, str], BeforeValidator(_headers)]


class Section(BaseModel):
    # A typo in a key must not be silently ignored, and "7" is not 7.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ConsoleSection(Section):
    refresh: Annotated[timedelta, _duration_within("the refresh", MAX_INTERVAL, MIN_REFRESH)] = timedelta(seconds=1)
    operator: Annotated[str, BeforeValidator(lambda v: _no_control(v, "the operator"))] = ""  # empty: $USER
    read_only: bool = False


class DatabaseSection(Section):
    url: DbUrl = ""
    # The login configured SQL (sql gates, cost_query, events_query) runs as: a
    # read-only role of the monitored system. Empty: the role gonogo_reader on the
    # server and database of `url`, without a password (the embedded server creates
    # it). Never the console's own role; see console/store/sandbox.py.
    query_url: DbUrl = ""
    data_dir: str = "~/.local/share/gonogo"
    retention: Annotated[timedelta, _duration_within("the retention", MAX_WINDOW)] = timedelta(days=2)  # raw probe rows
    statement_timeout: Timeout = timedelta(seconds=5)

    @property
    def data_path(self) -> Path:
        return Path(os.path.expanduser(self.data_dir))


class RolloutSection(Section):
    flag: str = "phase_4_deployment"
    steps: list[int] = Field(default_factory=lambda: [0, 5, 10, 25, 50, 75, 100])
    soak: Annotated[timedelta | list[timedelta], BeforeValidator(_durations)] = timedelta(hours=12)

    @field_validator("flag")
    @classmethod
    def _flag(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,100}", v):
            raise ValueError(f"{v!r}: a flag name is 1-100 letters, digits, _ . : -")
        return v

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: list[int]) -> list[int]:
        if len(v) < 2:
            raise ValueError(f"{v}: give at least two steps, starting at 0, like [0, 5, 10, 25, 50, 75, 100]")
        for i, s in enumerate(v):
            if not 0 <= s <= 100:
                raise _KeyError((i,), f"{s} is not a percentage; every step must be within 0-100")
        if v[0] != 0:
            raise _KeyError((0,), f"the first step must be 0 (where a rollback returns), not {v[0]}")
        for i in range(1, len(v)):
            if v[i] <= v[i - 1]:
                raise _KeyError(
                    (i,), f"{v[i]} does not come after {v[i - 1]}; steps must be strictly increasing"
                )
        return v

    @model_validator(mode="after")
    def _soak_per_step(self) -> "RolloutSection":
        if isinstance(self.soak, list) and len(self.soak) != len(self.steps):
            raise _KeyError(
                ("soak",),
                f"a list of soaks needs one per step ({len(self.steps)} steps: {self.steps}), "
                f"got {len(self.soak)}; or give one duration for every step",
            )
        return self

    def soak_for(self, percentage: int) -> timedelta:
        """The soak of the step at `percentage`. A percentage that is not a step (the
        steps changed mid-rollout) takes the soak of the highest step below it."""
        if not isinstance(self.soak, list):
            return self.soak
        if percentage in self.steps:
            return self.soak[self.steps.index(percentage)]
        below = [i for i, s in enumerate(self.steps) if s < percentage]
        return self.soak[below[-1] if below else 0]


class Target(Section):
    name: Name
    url: HttpUrl
    interval: Interval = timedelta(seconds=15)
    timeout: Timeout = timedelta(seconds=2)
    expect_status: list[int] = Field(default_factory=lambda: [200])
    max_body: int = Field(default=65536, gt=0, le=64 * 1024 * 1024)
    headers: Headers = Field(default_factory=dict)  # sent with every probe; values are secret
    # Probes reuse kept-alive connections; one opens a new connection (connect, TLS
    # handshake, certificate checked) at least this often. At most an hour: a reused
    # connection would hide a changed certificate or address for longer than that.
    reconnect_every: Annotated[
        timedelta, _duration_within("reconnect_every", timedelta(hours=1))
    ] = timedelta(minutes=1)

    @field_validator("expect_status")
    @classmethod
    def _statuses(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("give at least one HTTP status that means healthy, like [200]")
        for i, s in enumerate(v):
            if not 100 <= s <= 599:
                raise _KeyError((i,), f"{s} is not an HTTP status (100-599)")
        return v

    @model_validator(mode="after")
    def _url_given(self) -> "Target":
        if not self.url:
            raise _KeyError(("url",), "a target needs a URL, like \"http://127.0.0.1:8080/health\"")
        return self


class Gate(Section):
    name: Name
    source: Literal["probe", "promql", "sql"]
    metric: str = ""  # probe gates: error_rate | p95_latency | uptime | checks_passing (default: name)
    target: str = ""  # probe gates: one target's probes only (default: all targets)
    window: Window = timedelta(minutes=5)
    query: str = ""
    interval: Interval = timedelta(seconds=30)  # promql / sql gates
    timeout: Timeout = timedelta(seconds=5)
    unit: Annotated[str | None, BeforeValidator(lambda v: _no_control(v, "a unit"))] = None
    green: str | None = None  # e.g. "< 0.1"
    red: str | None = None  # e.g. "> 1.0"
    # probe gates over a window: below this share of the window covered, or fewer
    # samples, the gate is UNKNOWN (default: [coverage])
    min_coverage: float | None = Field(default=None, ge=0, le=1)
    min_samples: int | None = Field(default=None, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _shape(self) -> "Gate":
        if self.source == "probe":
            metric = self.metric or self.name
            if metric not in PROBE_METRICS:
                raise _KeyError(
                    ("metric",) if self.metric else ("name",),
                    f"a probe gate measures one of {', '.join(PROBE_METRICS)}; "
                    f"{metric!r} is not one"
                    + ("" if self.metric else " (a probe gate's metric is its name unless you set metric = ...)"),
                )
            if self.query:
                raise _KeyError(("query",), "a probe gate takes no query (it is computed from probe results)")
        else:
            if not self.query.strip():
                raise _KeyError(("query",), f"a {self.source} gate needs a query whose single number is the value")
            if self.source == "sql" and (problem := one_statement_problem(self.query)):
                raise _KeyError(("query",), problem)
            if self.metric:
                raise _KeyError(("metric",), f"only probe gates take a metric; a {self.source} gate's value is its query's")
            if self.target:
                raise _KeyError(("target",), f"only probe gates take a target; a {self.source} gate's value is its query's")
            for key in ("min_coverage", "min_samples"):
                if getattr(self, key) is not None:
                    raise _KeyError((key,), f"only probe gates have a window to cover; a {self.source} gate's answer is its query's")
        for key in ("green", "red"):
            text = getattr(self, key)
            if text is not None:
                try:
                    Condition.parse(text)
                except ValueError as e:
                    raise _KeyError((key,), str(e)) from None
        if (self.green is None) != (self.red is None):
            given, missing = ("green", "red") if self.red is None else ("red", "green")
            raise _KeyError(
                (given,),
                f"{given} is given but {missing} is not; give both bands (like green = \"< 0.1\", "
                f"red = \"> 1.0\") or neither"
                + (" to take the Day-1 bands" if self._day1_key() else ""),
            )
        if self.green is None and self._day1_key() is None:
            raise _KeyError(
                ("name",),
                f"{self.name!r} has no Day-1 default bands (only {', '.join(DAY1_BANDS)} do); "
                'give bands like green = "< 0.1" and red = "> 1.0"',
            )
        if self.green is not None:
            try:
                check_bands(Condition.parse(self.green), Condition.parse(self.red))  # type: ignore[arg-type]
            except ValueError as e:
                raise _KeyError(("green",), str(e)) from None
        return self

    def _day1_key(self) -> str | None:
        for key in (self.probe_metric, self.name):
            if key in DAY1_BANDS:
                return key
        return None

    @property
    def probe_metric(self) -> str:
        return (self.metric or self.name) if self.source == "probe" else ""

    @property
    def bands(self) -> Bands:
        """The gate's own bands, or the Day-1 matrix's for its metric (probe gates) or
        name (error_rate, p95_latency, uptime, checks_passing, test_pass_rate,
        critical_alerts)."""
        if self.green is not None and self.red is not None:
            return Bands(green=Condition.parse(self.green), red=Condition.parse(self.red))
        return DAY1_BANDS[self.probe_metric or self.name]

    @property
    def display_unit(self) -> str:
        if self.unit is not None:
            return self.unit
        return DAY1_UNITS.get(self.probe_metric or self.name, "")


class PrometheusSection(Section):
    url: HttpUrl = ""
    timeout: Timeout = timedelta(seconds=5)
    headers: Headers = Field(default_factory=dict)  # sent with every query; values are secret


class AlertmanagerSection(Section):
    url: HttpUrl = ""
    interval: Interval = timedelta(seconds=15)
    timeout: Timeout = timedelta(seconds=5)
    headers: Headers = Field(default_factory=dict)  # sent with every request; values are secret


class CoverageSection(Section):
    """Enough data, or UNKNOWN (checks.coverage): the defaults for every windowed probe gate."""

    min_fraction: float = Field(default=0.8, ge=0, le=1)
    min_samples: int = Field(default=5, ge=0, le=1_000_000)


class AlertsSection(Section):
    """The console's own alert rules (besides one per gate that turns red or yellow)."""

    error_rate_1h: float = Field(default=0.5, ge=0)  # % failed probes over 1 h
    max_5xx_per_minute: int = Field(default=5, ge=0)
    cost_query: str = ""  # SQL giving today's cost in dollars
    cost_budget: float = Field(default=10.0, ge=0)
    events_query: str = ""  # SQL giving rows (at, severity, name, summary) from the monitored system
    interval: Interval = timedelta(seconds=30)

    @field_validator("cost_query", "events_query")
    @classmethod
    def _one_statement(cls, v: str) -> str:
        problem = one_statement_problem(v)
        if problem:
            raise ValueError(problem)
        return v


class AutoRollbackSection(Section):
    """`gates` must name defined gates. Left at its default while enabled, a missing
    default gate is an error too (auto-rollback must not silently watch nothing);
    with enabled = false only an explicit list is checked (a typo is still a typo)."""

    enabled: bool = True
    gates: list[str] = Field(default_factory=lambda: ["error_rate", "p95_latency"])
    sustain: Window = timedelta(minutes=5)
    consecutive: int = Field(default=3, ge=1, le=10000)


class ActuatorSection(Section):
    """How the rollout percentage reaches the system being rolled out."""

    type: typing.Literal["database", "http", "command", "file"] = "database"
    table: str = "gonogo.feature_flags"  # database: (flag, enabled, rollout_percentage, updated_at)
    url: HttpUrl = ""  # http: POST {flag, percentage, previous, enabled, idempotency_key}
    command: list[str] = Field(default_factory=list)  # command: argv with {flag} {percentage} {previous}
    file: str = ""  # file: a feature_flags.json, written atomically
    headers: Headers = Field(default_factory=dict)  # http: sent with every POST; values are secret
    timeout: Timeout = timedelta(seconds=10)
    retries: int = Field(default=2, ge=0, le=10)

    @model_validator(mode="after")
    def _needs(self) -> "ActuatorSection":
        if self.type == "http" and not self.url:
            raise _KeyError(("url",), 'an http actuator needs url = "https://flags.example/api/flags"')
        if self.type == "command" and not self.command:
            raise _KeyError(("command",), 'a command actuator needs command = ["deploy.sh", "{flag}", "{percentage}"]')
        if self.type == "file" and not self.file:
            raise _KeyError(("file",), 'a file actuator needs file = "/etc/myapp/feature_flags.json"')
        if self.type == "database" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", self.table):
            raise _KeyError(("table",), f"{self.table!r} is not a table name (schema.table or table)")
        for i, arg in enumerate(self.command):
            problem = _placeholder_problem(arg)
            if problem:
                raise _KeyError(
                    ("command", i),
                    f"{arg!r}: {problem}; the only placeholders are {{flag}}, {{percentage}}, {{previous}}, {{key}} "
                    "(and {{ or }} for a brace)",
                )
        return self


_PLACEHOLDERS = frozenset({"flag", "percentage", "previous", "key"})


def _placeholder_problem(arg: str) -> str | None:
    """Why a command argument's placeholders are not exactly the documented ones:
    `{flag.x}`, `{flag[0]}`, `{flag!r}` and `{flag:>5}` reach into objects or
    format them, which str.format would do at actuation time."""
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(arg) if name is not None]
    except ValueError as e:
        return f"{e}".replace("'", "").lower().rstrip(".")
    for name, spec, conv in fields:
        if name not in _PLACEHOLDERS:
            return f"{{{name}}} is not a placeholder" if name else "{} is not a placeholder"
        if spec or conv:
            return f"{{{name}}} takes no conversion or format"
    return None


class BurnInSection(Section):
    start: AwareDatetime = datetime.fromisoformat("2025-11-11T16:00:00+00:00")
    days: int = Field(default=7, gt=0, le=3650)
    review: AwareDatetime = datetime.fromisoformat("2025-11-24T09:00:00+00:00")

    @model_validator(mode="after")
    def _order(self) -> "BurnInSection":
        try:
            self.start + timedelta(days=self.days + 1)  # the end, with a day to spare for the countdown
        except OverflowError:
            raise _KeyError(
                ("days",), f"a burn-in of {self.days} days from {self.start.isoformat()} ends after the year 9999"
            ) from None
        if self.review < self.start:
            raise _KeyError(
                ("review",),
                f"the review ({self.review.isoformat()}) is before the burn-in starts ({self.start.isoformat()})",
            )
        return self

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


class Config(Section):
    console: ConsoleSection = Field(default_factory=ConsoleSection)
    database: DatabaseSection = Field(default_factory=DatabaseSection)
    rollout: RolloutSection = Field(default_factory=RolloutSection)
    targets: list[Target] = Field(default_factory=list)
    gates: list[Gate] = Field(default_factory=list)
    prometheus: PrometheusSection = Field(default_factory=PrometheusSection)
    alertmanager: AlertmanagerSection = Field(default_factory=AlertmanagerSection)
    alerts: AlertsSection = Field(default_factory=AlertsSection)
    auto_rollback: AutoRollbackSection = Field(default_factory=AutoRollbackSection)
    burn_in: BurnInSection = Field(default_factory=BurnInSection)
    coverage: CoverageSection = Field(default_factory=CoverageSection)
    actuator: ActuatorSection = Field(default_factory=ActuatorSection)

    @model_validator(mode="after")
    def _cross(self) -> "Config":
        _unique("targets", [t.name for t in self.targets])
        _unique("gates", [g.name for g in self.gates])
        names = {t.name for t in self.targets}
        for i, g in enumerate(self.gates):
            if g.source == "probe" and g.target and g.target not in names:
                raise _KeyError(
                    ("gates", i, "target"),
                    f"there is no target named {g.target!r}; the targets are: {_listing(names)}",
                )
            if g.source == "promql" and not self.prometheus.url:
                raise _KeyError(
                    ("gates", i, "source"),
                    'a promql gate needs a Prometheus: set [prometheus] url = "http://127.0.0.1:9090"',
                )
            if g.source == "probe" and not self.targets:
                raise _KeyError(("gates", i, "source"), "a probe gate needs at least one [[targets]] to probe")
        gate_names = {g.name for g in self.gates}
        ar = self.auto_rollback
        explicit = "gates" in ar.model_fields_set
        if ar.enabled or explicit:
            for i, name in enumerate(ar.gates):
                if name in gate_names:
                    continue
                if explicit:
                    raise _KeyError(
                        ("auto_rollback", "gates", i),
                        f"there is no gate named {name!r}; the gates are: {_listing(gate_names)}",
                    )
                raise _KeyError(
                    ("auto_rollback", "gates"),
                    f"auto-rollback is enabled and by default watches {ar.gates}, but there is no gate "
                    f"named {name!r}; add that gate, list the gates to watch (gates = [...]), "
                    "or set enabled = false",
                )
        return self

    @property
    def operator(self) -> str:
        """`[console] operator` (checked at load), else $USER / $LOGNAME. The
        environment is not checked at load, so a control character there is shown
        escaped (`bob\\x1b`) rather than failing every action or reaching a terminal."""
        name = self.console.operator or os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"
        return visible(name, limit=100)

    def gate(self, name: str) -> Gate:
        return next(g for g in self.gates if g.name == name)

    def min_coverage(self, gate: Gate) -> tuple[float, int]:
        """(share of the window, samples) a probe gate needs, else it is UNKNOWN."""
        c = self.coverage
        return (c.min_fraction if gate.min_coverage is None else gate.min_coverage,
                c.min_samples if gate.min_samples is None else gate.min_samples)


def _listing(names: typing.Iterable[str]) -> str:
    names = sorted(names)
    return ", ".join(names) if names else "(none)"


def _unique(section: str, names: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in seen:
            raise _KeyError(
                (section, i, "name"),
                f"{n!r} is already the name of [[{section}]] #{seen[n] + 1}; names must be unique",
            )
        seen[n] = i


class ConfigError(Exception):
    """A bad config file, as one message for the operator (exit code 2)."""


def default_config_path() -> Path | None:
    here = Path("config.toml")
    if here.is_file():
        return here
    xdg = Path(platformdirs.user_config_dir("gonogo")) / "config.toml"
    if xdg.is_file():
        return xdg
    return None


def load_config(path: Path | str | None = None, *, env: typing.Mapping[str, str] | None = None) -> Config:
    """Read, validate and return the config. Raises ConfigError with one clear
    paragraph; `GONOGO_DATABASE_URL` (from `env`, default os.environ) overrides
    `database.url`."""
    env = os.environ if env is None else env
    if path is None:
        path = default_config_path()
        if path is None:
            raise ConfigError(
                "no config file: none given with --config, no ./config.toml and none at "
                f"{Path(platformdirs.user_config_dir('gonogo')) / 'config.toml'}. "
                "Try `gonogo demo`, or copy the repository's config.toml."
            )
    path = Path(path)
    text = _read_config_text(path)
    deep = _too_deep_at(text)
    if deep is not None:
        raise ConfigError(_too_deep_error(path, text, *deep))
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(_toml_error(path, text, e)) from None
    except RecursionError:  # the scan above should have caught it; never a traceback
        raise ConfigError(f"{path}: nested too deeply to read (more than {MAX_NESTING} levels of [ ] and {{ }})") from None
    templates = _substitute_env(raw, env, path=path, text=text)
    override = env.get("GONOGO_DATABASE_URL")
    if override:
        try:
            _db_url(override)
        except ValueError as e:
            raise ConfigError(f"GONOGO_DATABASE_URL (overrides [database] url in {path}): {mask_text(str(e))}") from None
        if "database" not in raw:
            raw["database"] = {}
        if isinstance(raw["database"], dict):
            raw["database"]["url"] = override
    return parse_config(raw, path=path, text=text, env_templates=templates)


MAX_CONFIG_BYTES = 1024 * 1024
MAX_NESTING = 32  # levels of [ ] and { }; no key of the schema uses more than 3
_FILE_KINDS = [(stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]


def _read_config_text(path: Path) -> str:
    """The file's text: a regular file of at most 1 MiB of UTF-8. A device
    (`/dev/zero`), a pipe or a directory is refused before anything is read from
    it, and the read itself stops at 1 MiB + 1 byte."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not hang the command.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file; give the path of a .toml file") from None
    except PermissionError:
        raise ConfigError(f"{path}: cannot read it (permission denied)") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror or e})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise ConfigError(f"{path}: is a directory, not a config file; give the path of a .toml file")
        kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
        raise ConfigError(f"{path}: is {kind}, not a regular file; give the path of a .toml file")
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(MAX_CONFIG_BYTES + 1)
        except OSError as e:
            raise ConfigError(f"{path}: cannot read it ({e.strerror or e})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: too large: a config file is at most 1 MiB ({MAX_CONFIG_BYTES} bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: cannot read it: not UTF-8 text (byte {e.start})") from None


# Strings and comments (skipped), brackets and braces (counted), newlines (for the
# line number). Unterminated strings are left to tomllib to report.
_NESTING_TOKENS = re.compile(
    r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*"{3,5}'
    r"|'''[\s\S]*?'{3,5}"
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|'[^'\n]*'"
    r"|#[^\n]*"
    r"|[\[\]{}\n]"
)


def _too_deep_at(text: str, limit: int = MAX_NESTING) -> tuple[int, int] | None:
    """(line, column) where [ ] / { } nesting first goes past `limit`, else None.
    tomllib recurses once per level, so 100 000 `[` would end in a RecursionError."""
    depth, line, line_start = 0, 1, 0
    for m in _NESTING_TOKENS.finditer(text):
        token = m.group(0)
        if token in "[{":
            depth += 1
            if depth > limit:
                return line, m.start() - line_start + 1
        elif token in "]}":
            depth = max(depth - 1, 0)
        elif "\n" in token:
            line += token.count("\n")
            line_start = m.start() + token.rindex("\n") + 1
    return None


def _too_deep_error(path: Path, text: str, line: int, column: int) -> str:
    """Name the key being written where the nesting goes too deep (the last key
    at or before that line), like every other config error."""
    index = {loc: n for loc, n in _line_index(text).items() if n <= line and loc and isinstance(loc[-1], str)}
    loc = max(index, key=index.__getitem__) if index else ()
    where = describe_loc(loc, {}, text) if loc else f"top level (line {line})"
    at = f"column {column}" if loc and index[loc] == line else f"line {line}, column {column}"
    return mask_text(
        f"{path}: {where}: nested more than {MAX_NESTING} levels of [ ] and {{ }} deep (at {at}); "
        "no setting is nested more than 3"
    )


_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")


def _substitute_env(raw: dict, env: typing.Mapping[str, str], *, path: Path, text: str) -> dict[str, str]:
    """Replace `${NAME}` in every string value of the parsed document (in place:
    the document is this load's own) with the environment variable NAME; `$${` is a
    literal `${`. Every value taken from the environment is registered as a secret.
    Returns {substituted string: the string as written}, so that an error can show
    what the file says instead of the value."""
    templates: dict[str, str] = {}
    todo: list[tuple[dict | list, str | int, tuple]] = [(raw, k, (k,)) for k in raw]
    while todo:  # a loop, not recursion: a dotted key can nest tables thousands deep
        parent, key, loc = todo.pop()
        value = parent[key]  # type: ignore[index]
        if isinstance(value, dict):
            todo.extend((value, k, loc + (k,)) for k in value)
        elif isinstance(value, list):
            todo.extend((value, i, loc + (i,)) for i in range(len(value)))
        elif isinstance(value, str) and "${" in value:
            new = _expand(value, env, lambda msg: ConfigError(mask_text(f"{path}: {describe_loc(loc, raw, text)}: {msg}")))
            if new != value:
                parent[key] = new  # type: ignore[index]
                templates[new] = value
    return templates


def _expand(value: str, env: typing.Mapping[str, str], error: typing.Callable[[str], ConfigError]) -> str:
    def one(m: re.Match) -> str:
        if m.group(0) == "$${":
            return "${"
        name = m.group(1)
        if name is None:
            raise error('"${" must start a reference like ${GONOGO_HOOK_TOKEN} (write $${ for a literal ${)')
        if name not in env:
            raise error(f"environment variable {name} is not set")
        register_secret(env[name])
        return env[name]

    return _ENV_REF.sub(one, value)


def _unexpand(msg: str, templates: typing.Mapping[str, str]) -> str:
    """Put back the `${NAME}` the file wrote wherever an error message quotes a
    value taken from the environment (as is, repr-escaped or as a masked URL)."""
    forms: dict[str, str] = {}
    for value, template in templates.items():
        for form in (value, repr(value)[1:-1], mask_url(value)):
            if form and form not in (template, mask_url(template)):
                forms.setdefault(form, template)
    for form in sorted(forms, key=len, reverse=True):
        msg = msg.replace(form, forms[form])
    return msg


def _toml_error(path: Path, text: str, e: tomllib.TOMLDecodeError) -> str:
    msg = str(e)
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", msg)
    if not m:
        m2 = re.search(r"\s*\(at end of document\)$", msg)
        reason = msg[: m2.start()] if m2 else msg
        return f"{path}: not valid TOML (at the end of the file): {reason}"
    line_no, col = int(m.group(1)), int(m.group(2))
    reason = msg[: m.start()]
    lines = text.splitlines()
    shown = hint = ""
    if 0 < line_no <= len(lines) and lines[line_no - 1].strip():
        line = lines[line_no - 1]
        shown = f" in `{mask_text(line.strip())[:120]}`"
        bare = re.match(r"^\s*([A-Za-z0-9_-]+)\s*=\s*([^\s\"'\[{#][^#]*?)\s*(?:#.*)?$", line)
        if bare and not re.fullmatch(r"true|false|[-+]?[\d_.eE:T+-]+|[-+]?(inf|nan)", bare.group(2)):
            hint = f' (a string needs quotes: {bare.group(1)} = "{mask_text(bare.group(2))}")'
    return f"{path}: not valid TOML (line {line_no}, column {col}): {reason}{shown}{hint}"


def parse_config(
    raw: dict, *, path: Path | str = "config.toml", text: str = "", env_templates: typing.Mapping[str, str] | None = None
) -> Config:
    """Validate an already-parsed TOML document; `text` (the file's text) is only
    used to find line numbers for the message, `env_templates` (substituted value →
    as written) to show `${NAME}` rather than a value from the environment. Every
    header value is registered as a secret."""
    try:
        config = Config.model_validate(raw)
    except ValidationError as e:
        errors = e.errors()
        loc, msg = _explain(errors[0], raw)
        more = f" ({len(errors) - 1} more problem(s) after this one)" if len(errors) > 1 else ""
        message = f"{path}: {describe_loc(loc, raw, text)}: {msg}{more}"
        raise ConfigError(mask_text(_unexpand(message, env_templates or {}))) from None
    for value in _header_values(config):
        register_secret(value)
    return config


def _header_values(config: Config) -> list[str]:
    sections = [*config.targets, config.prometheus, config.alertmanager, config.actuator]
    return [v for s in sections for v in s.headers.values()]


# --- turning a pydantic error into words --------------------------------------------


def _explain(err: dict, raw: dict) -> tuple[tuple, str]:
    loc = tuple(p for p in err["loc"] if not _is_tag(p))
    kind = err["type"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    ctx_err = ctx.get("error")
    if isinstance(ctx_err, _KeyError):
        return loc + ctx_err.loc, ctx_err.msg
    if ctx_err is not None:
        return loc, str(ctx_err)
    if kind == "extra_forbidden":
        return loc, _unknown_key(loc, given)
    if kind == "missing":
        return loc, f"this key is required but missing{_missing_hint(loc)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return loc, f"expected a whole number, got {_describe(given)}"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return loc, f"expected a number, got {_describe(given)}"
    if kind in ("bool_type", "bool_parsing"):
        return loc, f"expected true or false, got {_describe(given)}"
    if kind == "string_type":
        hint = ""
        if loc and loc[-1] in ("green", "red") and isinstance(given, (int, float)):
            hint = f' (a band is an operator and a number in quotes, like "< {given}")'
        return loc, f"expected a string in quotes, got {_describe(given)}{hint}"
    if kind == "list_type":
        if len(loc) == 1 and loc[0] in ("targets", "gates") and isinstance(given, dict):
            return loc, f"write [[{loc[0]}]] (two brackets) for each entry, not [{loc[0]}]"
        return loc, f"expected a list [...], got {_describe(given)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return loc, f"expected a table, got {_describe(given)}"
    if kind == "literal_error":
        return loc, f"{given!r} is not one of {ctx.get('expected', '')}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {"greater_than": "more than", "greater_than_equal": "at least",
                 "less_than": "less than", "less_than_equal": "at most"}[kind]
        bound = next(iter(ctx.values()), "")
        return loc, f"must be {words} {bound}, got {_describe(given)}"
    return loc, re.sub(r"^(Value error|Assertion failed), ", "", err["msg"])


def _is_tag(p: object) -> bool:
    """pydantic's own path elements (union members, validator wrappers), not keys."""
    return isinstance(p, str) and ("[" in p or "(" in p or p.startswith("function-"))


def _describe(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"the string {v!r}" + (" (drop the quotes)" if re.fullmatch(r"-?\d+(\.\d+)?|true|false", v) else "")
    if isinstance(v, (int, float)):
        return f"the number {v!r}"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a table"
    if isinstance(v, (datetime, date)):
        return f"the date {v.isoformat()}"
    return repr(v)


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model whose keys live at `loc` (a path of keys and list indexes)."""
    model: type[BaseModel] = Config
    for p in loc:
        if isinstance(p, int):
            continue
        field = model.model_fields.get(p)
        sub = _model_in(field.annotation) if field else None
        if sub is None:
            return None
        model = sub
    return model


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _unknown_key(loc: tuple, given: object) -> str:
    key = str(loc[-1]) if loc else ""
    model = _model_at(loc[:-1])
    known = list(model.model_fields) if model else []
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    section = len(loc) == 1 and isinstance(given, dict)
    msg = "unknown section" if section else "unknown key"
    if close:
        return f"{msg}; did you mean {f'[{close[0]}]' if section else repr(close[0])}?"
    if len(loc) == 1:
        homes = [s for s, f in Config.model_fields.items() if key in (_model_in(f.annotation) or BaseModel).model_fields]
        if homes:
            where = " or ".join(f"[[{h}]]" if h in ("targets", "gates") else f"[{h}]" for h in homes)
            return f"{msg} at the top level; a key of that name belongs in {where}"
        if section:
            return f"{msg}; the sections are {', '.join(Config.model_fields)}"
    return f"{msg} (a typo?); the keys here are {', '.join(known)}" if known else f"{msg} (a typo?)"


def _missing_hint(loc: tuple) -> str:
    if loc[-1:] == ("name",):
        return "; every entry needs a unique name"
    if loc[-1:] == ("url",):
        return '; write it like url = "http://127.0.0.1:8080/health"'
    if loc[-1:] == ("source",):
        return ': source = "probe", "promql" or "sql"'
    return ""


# --- where in the file --------------------------------------------------------------

_LIST_SECTIONS = ("targets", "gates")


def describe_loc(loc: tuple, raw: dict, text: str) -> str:
    """("targets", 1, "interval") → `[[targets]] #2 ('auth'), key 'interval' (line 31)`."""
    loc = tuple(p for p in loc if not _is_tag(p))
    if not loc:
        return "top level"
    section, rest = str(loc[0]), loc[1:]
    parts: list[str] = []
    value = raw.get(section) if isinstance(raw, dict) else None
    if section in _LIST_SECTIONS and rest and isinstance(rest[0], int):
        i, rest = rest[0], rest[1:]
        item = value[i] if isinstance(value, list) and i < len(value) else None
        name = item.get("name") if isinstance(item, dict) else None
        parts.append(f"[[{section}]] #{i + 1}" + (f" ({name!r})" if isinstance(name, str) and name else ""))
    elif section in _LIST_SECTIONS:
        parts.append(f"'{section}'" if not rest else f"[[{section}]]")
    elif section in Config.model_fields or isinstance(value, dict):
        parts.append(f"[{section}]")
    else:
        parts.append(f"top-level key {section!r}")
    keys = [p for p in rest if isinstance(p, str)]
    if keys:
        parts.append("key " + repr(".".join(keys)))
    items = [p for p in rest if isinstance(p, int)]
    if items:
        parts.append(f"item {items[-1] + 1}")
    where = ", ".join(parts)
    line = _line_for(loc, text)
    return f"{where} (line {line})" if line else where


_BARE = r"""[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*'"""
_KEYPATH = rf"(?:{_BARE})(?:\s*\.\s*(?:{_BARE}))*"
_HEADER_RE = re.compile(rf"^\s*(\[\[|\[)\s*({_KEYPATH})\s*\]\]?\s*(?:#.*)?$")
_KEY_RE = re.compile(rf"^\s*({_KEYPATH})\s*=")


def _split_keypath(s: str) -> tuple[str, ...]:
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in re.findall(_BARE, s))


def _line_index(text: str) -> dict[tuple, int]:
    """Where each table and key of a TOML text is written: ("targets", 1, "url") → 31.

    A line scanner, not a parser: it follows [table] and [[array]] headers, dotted
    keys and multi-line strings, which is all a config file uses. A key inside an
    inline table or a multi-line array maps to the line of its enclosing key."""
    index: dict[tuple, int] = {}
    counts: dict[tuple, int] = {}
    table: tuple = ()
    in_string: str | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if in_string:
            if in_string in line:
                in_string = None
            continue
        m = _HEADER_RE.match(line)
        if m:
            path = _split_keypath(m.group(2))
            if m.group(1) == "[[":
                counts[path] = counts.get(path, -1) + 1
                table = path + (counts[path],)
            else:
                table = path
            index.setdefault(table, n)
            continue
        m = _KEY_RE.match(line)
        if m:
            index.setdefault(table + _split_keypath(m.group(1)), n)
            rest = line[m.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_string = quote
                    break
    return index


def _line_for(loc: tuple, text: str) -> int | None:
    """The line of the key at `loc`, or of the nearest enclosing key or table."""
    if not text:
        return None
    index = _line_index(text)
    for k in range(len(loc), 0, -1):
        if loc[:k] in index:
            return index[loc[:k]]
    return None
