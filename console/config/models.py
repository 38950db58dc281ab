"""The config file's sections as pydantic models: what each key may hold, and the checks across keys."""
from __future__ import annotations

import os
import typing
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Annotated

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from checks.sql_text import one_statement_problem
from checks.times import zone_named
from widgets.literal import visible

from .gates import Gate
from .notify import Notify
from .rollout import ActuatorSection, AutoRollbackSection, BurnInSection, ReviewSection, RolloutSection
from .values import (
    Section,
    MAX_INTERVAL,
    MAX_WINDOW,
    MIN_REFRESH,
    DbUrl,
    Headers,
    HttpUrl,
    Interval,
    Name,
    Timeout,
    _duration_within,
    KeyProblem,
    _no_control,
)


class ConsoleSection(Section):
    refresh: Annotated[timedelta, _duration_within("the refresh", MAX_INTERVAL, MIN_REFRESH)] = timedelta(seconds=5)
    operator: Annotated[str, BeforeValidator(lambda v: _no_control(v, "the operator"))] = ""  # empty: $USER
    read_only: bool = False
    # Ring the terminal's bell once for each loud event (an auto-rollback, a rollout not
    # applied, a new critical alert) that happens while this console runs. A bool,
    # strictly: "yes" or 1 is an error naming the key, never silently off.
    bell: bool = True
    # The zone every time on screen is written in: an IANA name ("Europe/Berlin"),
    # "UTC", or "local" / "" for this machine's. `z` flips the screen to UTC and back.
    timezone: str = ""

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        zone_named(v.strip())  # a name with no zone is refused here, naming the file and key
        return v.strip()

    @property
    def zone(self) -> tzinfo:
        return zone_named(self.timezone)


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
    notify: Notify = Field(default_factory=list)  # [[notify]] webhooks (console/config/notify.py)
    review: ReviewSection = Field(default_factory=ReviewSection)

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
        for i, name in enumerate(self.review.criteria):
            if name not in gate_names:
                raise KeyProblem(("review", "criteria", i),
                                 f"there is no gate named {name!r}; the gates are: {_listing(gate_names)}")
            if name in self.review.criteria[:i]:
                raise KeyProblem(("review", "criteria", i), f"{name!r} is listed twice")
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

    @property
    def review_criteria(self) -> tuple[str, ...]:
        """The gates the go/no-go review takes one by one: `[review] criteria`, else every gate."""
        return tuple(self.review.criteria) or tuple(g.name for g in self.gates)

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
