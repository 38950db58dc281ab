"""The rollout's sections: `[rollout]` (flag, steps, soak), `[auto_rollback]`, the `[actuator]`
that applies a change, `[burn_in]` and the `[review]`'s criteria."""
from __future__ import annotations

import re
import string
import typing
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from .values import (
    Section,
    AwareDatetime,
    Headers,
    HttpUrl,
    Timeout,
    Window,
    _durations,
    KeyProblem,
)


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


class ReviewSection(Section):
    """`[review]`: the go/no-go review's criteria, gate names in the order they are
    reviewed; empty (the default) reviews every gate."""

    criteria: list[str] = Field(default_factory=list)
