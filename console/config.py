"""config.toml: parsed with tomllib, validated by pydantic, every error named by file
and key (and line where one can be found), never a traceback."""
from __future__ import annotations

import os
import re
import tomllib
from datetime import datetime, timedelta
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

from .durations import parse_duration

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _http_url(v: object) -> str:
    if not isinstance(v, str):
        raise ValueError(f"a URL must be a string, not {v!r}")
    if v == "":
        return v
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{v!r} is not an http:// or https:// URL")
    try:
        parts.port
    except ValueError:
        raise ValueError(f"{v!r} has a bad port") from None
    return v


def _db_url(v: object) -> str:
    if not isinstance(v, str):
        raise ValueError(f"a database URL must be a string, not {v!r}")
    if v and urlsplit(v).scheme not in ("postgresql", "postgres"):
        raise ValueError("a database URL must start with postgresql:// (or be empty for the embedded server)")
    return v


HttpUrl = Annotated[str, BeforeValidator(_http_url)]
DbUrl = Annotated[str, BeforeValidator(_db_url)]


class Section(BaseModel):
    # A typo in a key must not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsoleSection(Section):
    refresh: Duration = timedelta(seconds=1)
    operator: str = ""  # who signs actions; empty: $USER
    read_only: bool = False


class DatabaseSection(Section):
    url: DbUrl = ""
    data_dir: str = "~/.local/share/gonogo"
    retention: Duration = timedelta(days=2)  # raw probe rows; rollups keep longer
    statement_timeout: Duration = timedelta(seconds=5)

    @property
    def data_path(self) -> Path:
        return Path(os.path.expanduser(self.data_dir))


class RolloutSection(Section):
    flag: str = "phase_4_deployment"
    steps: list[int] = Field(default_factory=lambda: [0, 5, 10, 25, 50, 75, 100])
    soak: Duration | list[Duration] = timedelta(hours=12)

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
            raise ValueError("give at least two steps, starting at 0")
        if any(s < 0 or s > 100 for s in v):
            raise ValueError(f"{v}: every step must be within 0-100")
        if any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError(f"{v}: steps must be strictly increasing")
        if v[0] != 0:
            raise ValueError(f"{v}: the first step must be 0 (where a rollback returns)")
        return v

    @model_validator(mode="after")
    def _soak_per_step(self) -> "RolloutSection":
        if isinstance(self.soak, list) and len(self.soak) != len(self.steps):
            raise ValueError(
                f"soak: a list of soaks needs one per step ({len(self.steps)}), got {len(self.soak)}"
            )
        return self

    def soak_for(self, percentage: int) -> timedelta:
        if isinstance(self.soak, list):
            return self.soak[self.steps.index(percentage)] if percentage in self.steps else self.soak[0]
        return self.soak


class Target(Section):
    name: str
    url: HttpUrl
    interval: Duration = timedelta(seconds=15)
    timeout: Duration = timedelta(seconds=2)
    expect_status: list[int] = Field(default_factory=lambda: [200])
    max_body: int = Field(default=65536, gt=0)

    @model_validator(mode="after")
    def _url_given(self) -> "Target":
        if not self.url:
            raise ValueError("url: a target needs a URL")
        return self


class Gate(Section):
    name: str
    source: Literal["probe", "promql", "sql"]
    metric: str = ""  # probe gates: error_rate | p95_latency | uptime | checks_passing (default: name)
    target: str = ""  # probe gates: one target's probes only (default: all targets)
    window: Duration = timedelta(minutes=5)
    query: str = ""
    interval: Duration = timedelta(seconds=30)  # promql / sql gates
    timeout: Duration = timedelta(seconds=5)
    unit: str | None = None
    green: str | None = None  # e.g. "< 0.1"
    red: str | None = None  # e.g. "> 1.0"

    @model_validator(mode="after")
    def _shape(self) -> "Gate":
        if self.source == "probe":
            metric = self.metric or self.name
            if metric not in PROBE_METRICS:
                raise ValueError(
                    f"metric: a probe gate measures one of {', '.join(PROBE_METRICS)}; "
                    f"{metric!r} is not one (set metric = ... or rename the gate)"
                )
            if self.query:
                raise ValueError("query: a probe gate takes no query (it is computed from probe results)")
        else:
            if not self.query.strip():
                raise ValueError(f"query: a {self.source} gate needs a query whose single number is the value")
            if self.metric:
                raise ValueError(f"metric: only probe gates take a metric")
        if (self.green is None) != (self.red is None):
            raise ValueError("green / red: give both bands or neither")
        if self.green is None and self.probe_metric not in DAY1_BANDS and self.name not in DAY1_BANDS:
            raise ValueError(
                'green / red: this gate has no Day-1 default; give bands like green = "< 0.1", red = "> 1.0"'
            )
        if self.green is not None:
            try:
                check_bands(Condition.parse(self.green), Condition.parse(self.red))  # type: ignore[arg-type]
            except ValueError as e:
                raise ValueError(f"green / red: {e}") from None
        return self

    @property
    def probe_metric(self) -> str:
        return (self.metric or self.name) if self.source == "probe" else ""

    @property
    def bands(self) -> Bands:
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
    timeout: Duration = timedelta(seconds=5)


class AlertmanagerSection(Section):
    url: HttpUrl = ""
    interval: Duration = timedelta(seconds=15)
    timeout: Duration = timedelta(seconds=5)


class AlertsSection(Section):
    """The console's own alert rules (besides one per gate that turns red or yellow)."""

    error_rate_1h: float = Field(default=0.5, ge=0)  # % failed probes over 1 h
    max_5xx_per_minute: int = Field(default=5, ge=0)
    cost_query: str = ""  # SQL giving today's cost in dollars
    cost_budget: float = Field(default=10.0, ge=0)
    events_query: str = ""  # SQL giving rows (at, severity, name, summary) from the monitored system
    interval: Duration = timedelta(seconds=30)


class AutoRollbackSection(Section):
    enabled: bool = True
    gates: list[str] = Field(default_factory=lambda: ["error_rate", "p95_latency"])
    sustain: Duration = timedelta(minutes=5)
    consecutive: int = Field(default=3, ge=1)


def _aware(v: datetime) -> datetime:
    if v.tzinfo is None:
        raise ValueError(f"{v.isoformat()} has no time zone; add Z or an offset like +00:00")
    return v


class BurnInSection(Section):
    start: datetime = datetime.fromisoformat("2025-11-11T16:00:00+00:00")
    days: int = Field(default=7, gt=0)
    review: datetime = datetime.fromisoformat("2025-11-24T09:00:00+00:00")

    _start_aware = field_validator("start", "review")(lambda cls, v: _aware(v))

    @model_validator(mode="after")
    def _order(self) -> "BurnInSection":
        if self.review < self.start:
            raise ValueError("review: the review is before the burn-in starts")
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

    @model_validator(mode="after")
    def _cross(self) -> "Config":
        _unique("targets", [t.name for t in self.targets])
        _unique("gates", [g.name for g in self.gates])
        names = {t.name for t in self.targets}
        for i, g in enumerate(self.gates):
            if g.source == "probe" and g.target and g.target not in names:
                raise _KeyError(("gates", i, "target"), f"no target named {g.target!r}")
            if g.source == "promql" and not self.prometheus.url:
                raise _KeyError(("gates", i, "source"), "a promql gate needs [prometheus] url")
            if g.source == "probe" and not self.targets:
                raise _KeyError(("gates", i, "source"), "a probe gate needs at least one [[targets]]")
        gate_names = {g.name for g in self.gates}
        for name in self.auto_rollback.gates:
            if name not in gate_names:
                raise _KeyError(("auto_rollback", "gates"), f"no gate named {name!r}")
        return self

    @property
    def operator(self) -> str:
        return self.console.operator or os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"

    def gate(self, name: str) -> Gate:
        return next(g for g in self.gates if g.name == name)


class _KeyError(ValueError):
    """A cross-field error that knows which key it belongs to."""

    def __init__(self, loc: tuple, msg: str):
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


def _unique(section: str, names: list[str]) -> None:
    seen = set()
    for i, n in enumerate(names):
        if n in seen:
            raise _KeyError((section, i, "name"), f"{n!r} is used twice; names must be unique")
        seen.add(n)


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


def load_config(path: Path | str | None = None, *, env: dict[str, str] | None = None) -> Config:
    """Read, validate and return the config. Raises ConfigError with one clear
    paragraph; `GONOGO_DATABASE_URL` overrides `database.url`."""
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
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read it ({e})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    if env.get("GONOGO_DATABASE_URL"):
        raw.setdefault("database", {})
        if isinstance(raw["database"], dict):
            raw["database"]["url"] = env["GONOGO_DATABASE_URL"]
    return parse_config(raw, path=path, text=text)


def parse_config(raw: dict, *, path: Path | str = "config.toml", text: str = "") -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc, msg = tuple(err["loc"]), err["msg"]
        ctx_err = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_err, _KeyError):
            loc, msg = ctx_err.loc, ctx_err.msg
        elif err["type"] == "extra_forbidden":
            msg = "unknown key (a typo?)"
        elif ctx_err is not None:
            msg = str(ctx_err)
        more = f" ({len(e.errors()) - 1} more problem(s) after this one)" if len(e.errors()) > 1 else ""
        raise ConfigError(f"{path}: {describe_loc(loc, raw, text)}: {_clean(msg)}{more}") from None


def _clean(msg: str) -> str:
    return re.sub(r"^(Value error|Assertion failed), ", "", msg)


def describe_loc(loc: tuple, raw: dict, text: str) -> str:
    """("targets", 1, "interval") → `[[targets]] #2 "api", key interval (line 14)`."""
    parts: list[str] = []
    section = None
    index = None
    key_path: list[str] = []
    for i, p in enumerate(loc):
        if i == 0:
            section = str(p)
        elif isinstance(p, int) and index is None and section in ("targets", "gates"):
            index = p
        elif isinstance(p, str) and p not in ("function-after", "function-before", "timedelta", "list[function-before[parse_duration(), timedelta]]") and not p.startswith("function-"):
            key_path.append(p)
        elif isinstance(p, int):
            key_path.append(f"[{p}]")
    if section is None:
        return "top level"
    if index is not None:
        items = raw.get(section) if isinstance(raw.get(section), list) else []
        name = items[index].get("name") if index < len(items) and isinstance(items[index], dict) else None
        parts.append(f"[[{section}]] #{index + 1}" + (f" ({name!r})" if name else ""))
    elif key_path or section in ("console", "database", "rollout", "prometheus", "alertmanager", "alerts", "auto_rollback", "burn_in"):
        parts.append(f"[{section}]")
    else:
        parts.append(f"key {section!r}")
    key = key_path[0] if key_path and not key_path[0].startswith("[") else None
    if key:
        parts.append(f"key {key!r}" + "".join(key_path[1:]))
    line = _find_line(text, section, index, key)
    if line:
        parts.append(f"(line {line})")
    return ", ".join(parts)


def _find_line(text: str, section: str | None, index: int | None, key: str | None) -> int | None:
    if not text or section is None:
        return None
    lines = text.splitlines()
    start = 0
    if index is not None:
        header = re.compile(rf"^\s*\[\[\s*{re.escape(section)}\s*\]\]")
        seen = -1
        for n, line in enumerate(lines):
            if header.match(line):
                seen += 1
                if seen == index:
                    start = n
                    break
        else:
            return None
    else:
        header = re.compile(rf"^\s*\[\s*{re.escape(section)}\s*\]")
        for n, line in enumerate(lines):
            if header.match(line):
                start = n
                break
        else:
            return None
    if key is None:
        return start + 1
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for n in range(start + 1, len(lines)):
        if re.match(r"^\s*\[", lines[n]):
            break
        if pattern.match(lines[n]):
            return n + 1
    return start + 1
