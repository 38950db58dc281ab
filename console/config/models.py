"""The config file's sections as pydantic models: what each key may hold, and the checks across keys."""
from __future__ import annotations

import os
import re
import string
import typing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from checks.bands import check_bands
from checks.day1 import DAY1_BANDS, DAY1_UNITS, PROBE_METRICS
from checks.models import Bands, Condition
from checks.sql_text import one_statement_problem
from widgets.literal import visible

from .values import (
    MAX_INTERVAL,
    MAX_WINDOW,
    MIN_REFRESH,
    AwareDatetime,
    DbUrl,
    Headers,
    HttpUrl,
    Interval,
    Name,
    Timeout,
    Window,
    _duration_within,
    _durations,
    KeyProblem,
    _no_control,
)

class Section(BaseModel):
    # A typo in a key must not be silently ignored, and "7" is not 7.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ConsoleSection(Section):
    refresh: Annotated[timedelta, _duration_within("the refresh", MAX_INTERVAL, MIN_REFRESH)] = timedelta(seconds=1)
    operator: Annotated[str, BeforeValidator(lambda v: _no_control(v, "the operator"))] = ""  # empty: $USER
    read_only: bool = False
    # Ring the terminal's bell once for each loud event (an auto-rollback, a rollout not
    # applied, a new critical alert) that happens while this console runs. A bool,
    # strictly: "yes" or 1 is an error naming the key, never silently off.
    bell: bool = True


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
                raise KeyProblem((i,), f"{s} is not a percentage; every step must be within 0-100")
        if v[0] != 0:
            raise KeyProblem((0,), f"the first step must be 0 (where a rollback returns), not {v[0]}")
        for i in range(1, len(v)):
            if v[i] <= v[i - 1]:
                raise KeyProblem(
                    (i,), f"{v[i]} does not come after {v[i - 1]}; steps must be strictly increasing"
                )
        return v

    @model_validator(mode="after")
    def _soak_per_step(self) -> "RolloutSection":
        if isinstance(self.soak, list) and len(self.soak) != len(self.steps):
            raise KeyProblem(
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
                raise KeyProblem((i,), f"{s} is not an HTTP status (100-599)")
        return v

    @model_validator(mode="after")
    def _url_given(self) -> "Target":
        if not self.url:
            raise KeyProblem(("url",), "a target needs a URL, like \"http://127.0.0.1:8080/health\"")
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
                raise KeyProblem(
                    ("metric",) if self.metric else ("name",),
                    f"a probe gate measures one of {', '.join(PROBE_METRICS)}; "
                    f"{metric!r} is not one"
                    + ("" if self.metric else " (a probe gate's metric is its name unless you set metric = ...)"),
                )
            if self.query:
                raise KeyProblem(("query",), "a probe gate takes no query (it is computed from probe results)")
        else:
            if not self.query.strip():
                raise KeyProblem(("query",), f"a {self.source} gate needs a query whose single number is the value")
            if self.source == "sql" and (problem := one_statement_problem(self.query)):
                raise KeyProblem(("query",), problem)
            if self.metric:
                raise KeyProblem(("metric",), f"only probe gates take a metric; a {self.source} gate's value is its query's")
            if self.target:
                raise KeyProblem(("target",), f"only probe gates take a target; a {self.source} gate's value is its query's")
            for key in ("min_coverage", "min_samples"):
                if getattr(self, key) is not None:
                    raise KeyProblem((key,), f"only probe gates have a window to cover; a {self.source} gate's answer is its query's")
        for key in ("green", "red"):
            text = getattr(self, key)
            if text is not None:
                try:
                    Condition.parse(text)
                except ValueError as e:
                    raise KeyProblem((key,), str(e)) from None
        if (self.green is None) != (self.red is None):
            given, missing = ("green", "red") if self.red is None else ("red", "green")
            raise KeyProblem(
                (given,),
                f"{given} is given but {missing} is not; give both bands (like green = \"< 0.1\", "
                f"red = \"> 1.0\") or neither"
                + (" to take the Day-1 bands" if self._day1_key() else ""),
            )
        if self.green is None and self._day1_key() is None:
            raise KeyProblem(
                ("name",),
                f"{self.name!r} has no Day-1 default bands (only {', '.join(DAY1_BANDS)} do); "
                'give bands like green = "< 0.1" and red = "> 1.0"',
            )
        if self.green is not None:
            try:
                check_bands(Condition.parse(self.green), Condition.parse(self.red))  # type: ignore[arg-type]
            except ValueError as e:
                raise KeyProblem(("green",), str(e)) from None
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
            raise KeyProblem(("url",), 'an http actuator needs url = "https://flags.example/api/flags"')
        if self.type == "command" and not self.command:
            raise KeyProblem(("command",), 'a command actuator needs command = ["deploy.sh", "{flag}", "{percentage}"]')
        if self.type == "file" and not self.file:
            raise KeyProblem(("file",), 'a file actuator needs file = "/etc/myapp/feature_flags.json"')
        if self.type == "database" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", self.table):
            raise KeyProblem(("table",), f"{self.table!r} is not a table name (schema.table or table)")
        for i, arg in enumerate(self.command):
            problem = _placeholder_problem(arg)
            if problem:
                raise KeyProblem(
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
    """`[burn_in]`: optional. Without it there is no burn-in to count down to, and
    the console shows none (it never makes dates up)."""

    start: AwareDatetime
    days: int = Field(default=7, gt=0, le=3650)
    review: AwareDatetime

    @model_validator(mode="after")
    def _order(self) -> "BurnInSection":
        try:
            self.start + timedelta(days=self.days + 1)  # the end, with a day to spare for the countdown
        except OverflowError:
            raise KeyProblem(
                ("days",), f"a burn-in of {self.days} days from {self.start.isoformat()} ends after the year 9999"
            ) from None
        if self.review < self.start:
            raise KeyProblem(
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
    burn_in: BurnInSection | None = None
    coverage: CoverageSection = Field(default_factory=CoverageSection)
    actuator: ActuatorSection = Field(default_factory=ActuatorSection)

    @model_validator(mode="after")
    def _cross(self) -> "Config":
        _unique("targets", [t.name for t in self.targets])
        _unique("gates", [g.name for g in self.gates])
        names = {t.name for t in self.targets}
        for i, g in enumerate(self.gates):
            if g.source == "probe" and g.target and g.target not in names:
                raise KeyProblem(
                    ("gates", i, "target"),
                    f"there is no target named {g.target!r}; the targets are: {_listing(names)}",
                )
            if g.source == "promql" and not self.prometheus.url:
                raise KeyProblem(
                    ("gates", i, "source"),
                    'a promql gate needs a Prometheus: set [prometheus] url = "http://127.0.0.1:9090"',
                )
            if g.source == "probe" and not self.targets:
                raise KeyProblem(("gates", i, "source"), "a probe gate needs at least one [[targets]] to probe")
        gate_names = {g.name for g in self.gates}
        ar = self.auto_rollback
        explicit = "gates" in ar.model_fields_set
        if ar.enabled or explicit:
            for i, name in enumerate(ar.gates):
                if name in gate_names:
                    continue
                if explicit:
                    raise KeyProblem(
                        ("auto_rollback", "gates", i),
                        f"there is no gate named {name!r}; the gates are: {_listing(gate_names)}",
                    )
                raise KeyProblem(
                    ("auto_rollback", "gates"),
                    f"auto-rollback is enabled and by default watches {ar.gates}, but there is no gate "
                    f"named {name!r}; add that gate, list the gates to watch (gates = [...]), "
                    "or set enabled = false",
                )
        return self

    @property
    def operator(self) -> str:
        """`[console] operator` (checked at load), else $USER / $LOGNAME, else the login
        name of this process's user (never "unknown" in an audit trail). The
        environment is not checked at load, so a control character there is shown
        escaped (`bob\\x1b`) rather than failing every action or reaching a terminal."""
        name = self.console.operator or os.environ.get("USER") or os.environ.get("LOGNAME") or _login_name()
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
            raise KeyProblem(
                (section, i, "name"),
                f"{n!r} is already the name of [[{section}]] #{seen[n] + 1}; names must be unique",
            )
        seen[n] = i


def _login_name() -> str:
    """The name of the user this process runs as (cron and systemd units often have
    no $USER); its uid only when the system has no name for it."""
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"
