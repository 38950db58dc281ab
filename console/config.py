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
"""
from __future__ import annotations

import difflib
import os
import re
import tomllib
import typing
from datetime import date, datetime, timedelta
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
from .secrets import mask_text, mask_url


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


def _durations(v: object) -> timedelta | list[timedelta]:
    """`soak`: one duration, or a list of them (one per step); a bad item is named."""
    if isinstance(v, list):
        out = []
        for i, item in enumerate(v):
            try:
                out.append(parse_duration(item))
            except ValueError as e:
                raise _KeyError((i,), str(e)) from None
        return out
    if isinstance(v, (str, timedelta, int, float)) and not isinstance(v, bool):
        return parse_duration(v)
    raise ValueError(f'give one duration like "12h", or a list with one per step, not {v!r}')


def _http_url(v: object) -> str:
    if not isinstance(v, str):
        raise ValueError(f'a URL must be a string like "http://127.0.0.1:8080/health", not {v!r}')
    if v == "":
        return v
    shown = mask_url(v)
    if any(c.isspace() for c in v):
        raise ValueError(f"{shown!r} contains a space; a URL cannot")
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
    return v


def _name(v: object) -> str:
    if isinstance(v, str) and (not v.strip() or v != v.strip()):
        raise ValueError(f"{v!r}: a name cannot be empty or start or end with spaces")
    return v  # type: ignore[return-value]


HttpUrl = Annotated[str, BeforeValidator(_http_url)]
DbUrl = Annotated[str, BeforeValidator(_db_url)]
AwareDatetime = Annotated[datetime, BeforeValidator(_aware_datetime)]
Name = Annotated[str, BeforeValidator(_name)]


class Section(BaseModel):
    # A typo in a key must not be silently ignored, and "7" is not 7.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


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
    interval: Duration = timedelta(seconds=15)
    timeout: Duration = timedelta(seconds=2)
    expect_status: list[int] = Field(default_factory=lambda: [200])
    max_body: int = Field(default=65536, gt=0)

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
            if self.metric:
                raise _KeyError(("metric",), f"only probe gates take a metric; a {self.source} gate's value is its query's")
            if self.target:
                raise _KeyError(("target",), f"only probe gates take a target; a {self.source} gate's value is its query's")
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
    """`gates` must name defined gates. Left at its default while enabled, a missing
    default gate is an error too (auto-rollback must not silently watch nothing);
    with enabled = false only an explicit list is checked (a typo is still a typo)."""

    enabled: bool = True
    gates: list[str] = Field(default_factory=lambda: ["error_rate", "p95_latency"])
    sustain: Duration = timedelta(minutes=5)
    consecutive: int = Field(default=3, ge=1)


class ActuatorSection(Section):
    """How the rollout percentage reaches the system being rolled out."""

    type: typing.Literal["database", "http", "command", "file"] = "database"
    table: str = "gonogo.feature_flags"  # database: (flag, enabled, rollout_percentage, updated_at)
    url: HttpUrl = ""  # http: POST {flag, percentage, previous, enabled, idempotency_key}
    command: list[str] = Field(default_factory=list)  # command: argv with {flag} {percentage} {previous}
    file: str = ""  # file: a feature_flags.json, written atomically
    timeout: Duration = timedelta(seconds=10)
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
            try:
                arg.format(flag="f", percentage=0, previous=0, key="k")
            except (KeyError, IndexError, ValueError):
                raise _KeyError(("command", i), f"{arg!r}: the only placeholders are {{flag}}, {{percentage}}, {{previous}}, {{key}}") from None
        return self


class BurnInSection(Section):
    start: AwareDatetime = datetime.fromisoformat("2025-11-11T16:00:00+00:00")
    days: int = Field(default=7, gt=0)
    review: AwareDatetime = datetime.fromisoformat("2025-11-24T09:00:00+00:00")

    @model_validator(mode="after")
    def _order(self) -> "BurnInSection":
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
        return self.console.operator or os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"

    def gate(self, name: str) -> Gate:
        return next(g for g in self.gates if g.name == name)


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
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file; give the path of a .toml file") from None
    except PermissionError:
        raise ConfigError(f"{path}: cannot read it (permission denied)") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: cannot read it: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror or e})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(_toml_error(path, text, e)) from None
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
    return parse_config(raw, path=path, text=text)


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


def parse_config(raw: dict, *, path: Path | str = "config.toml", text: str = "") -> Config:
    """Validate an already-parsed TOML document; `text` (the file's text) is only
    used to find line numbers for the message."""
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        errors = e.errors()
        loc, msg = _explain(errors[0], raw)
        more = f" ({len(errors) - 1} more problem(s) after this one)" if len(errors) > 1 else ""
        raise ConfigError(mask_text(f"{path}: {describe_loc(loc, raw, text)}: {msg}{more}")) from None


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
