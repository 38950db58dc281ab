"""`[[gates]]`: one metric each, its source, window and bands; the Day-1 matrix's bands for a probe gate that gives none."""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    model_validator,
)

from checks.bands import check_bands
from checks.day1 import DAY1_BANDS, DAY1_UNITS, PROBE_METRICS
from checks.models import Bands, Condition
from checks.sql_text import one_statement_problem

from .values import (
    Section,
    Interval,
    Name,
    Timeout,
    Window,
    KeyProblem,
    _no_control,
)


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
    # sql gates: the rows behind the number (e.g. the incidents a count counts), shown
    # in the review's evidence; run in the gates' read-only sandbox, a bounded number of rows
    evidence: str = ""

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
            if self.evidence and (problem := one_statement_problem(self.evidence)):
                raise KeyProblem(("evidence",), problem)
            if self.metric:
                raise KeyProblem(("metric",), f"only probe gates take a metric; a {self.source} gate's value is its query's")
            if self.target:
                raise KeyProblem(("target",), f"only probe gates take a target; a {self.source} gate's value is its query's")
            for key in ("min_coverage", "min_samples"):
                if getattr(self, key) is not None:
                    raise KeyProblem((key,), f"only probe gates have a window to cover; a {self.source} gate's answer is its query's")
        if self.evidence and self.source != "sql":
            raise KeyProblem(("evidence",), f"only sql gates take an evidence query; a {self.source} gate's evidence"
                                            " is its chart" + (" and failed probes" if self.source == "probe" else ""))
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
