"""The Day-1 gate matrix, boundaries exactly as the rollout plan writes them.

| metric                | green   | yellow      | red     |
| error rate            | < 0.1 % | 0.1 – 1.0 % | > 1.0 % |
| P95 latency           | < 200ms | 200 – 500   | > 500ms |
| test pass rate        | >= 98 % | 95 – 98 %   | < 95 %  |
| health checks passing | 5/5     | 4/5         | < 4/5   |
| critical alerts       | 0       | 1 – 2       | >= 3    |
| uptime                | 100 %   | >= 99.9 %   | < 99.9 %|

Health checks passing is measured as the percentage of targets healthy now, so
5/5 is 100 and 4/5 is 80 whatever the number of targets.
"""
from __future__ import annotations

from .models import Bands, Condition


def _b(green: str, red: str) -> Bands:
    return Bands(green=Condition.parse(green), red=Condition.parse(red))


DAY1_BANDS: dict[str, Bands] = {
    "error_rate": _b("< 0.1", "> 1.0"),
    "p95_latency": _b("< 200", "> 500"),
    "test_pass_rate": _b(">= 98", "< 95"),
    "checks_passing": _b(">= 100", "< 80"),
    "critical_alerts": _b("<= 0", ">= 3"),
    "uptime": _b(">= 100", "< 99.9"),
}

DAY1_UNITS: dict[str, str] = {
    "error_rate": "%",
    "p95_latency": "ms",
    "test_pass_rate": "%",
    "checks_passing": "%",
    "critical_alerts": "",
    "uptime": "%",
}

# The probe gates the console computes from its own probe results.
PROBE_METRICS = ("error_rate", "p95_latency", "uptime", "checks_passing")
