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

The package: `values.py` (the value types and their bounds, and the base of every
section), `models.py` (the Config, its smaller sections and the checks across them),
`gates.py` (`[[gates]]`), `rollout.py` (`[rollout]`, `[auto_rollback]`, `[actuator]`,
`[burn_in]`, `[review]`), `notify.py` (`[[notify]]`), `loading.py` (reading the file, ${NAME}, TOML errors),
`explain.py` (a pydantic error in words) and `toml_lines.py` (where a key is written).
"""
from .loading import ConfigError, default_config_path, load_config, packaged_config, parse_config
from .models import (
    ActuatorSection,
    AlertmanagerSection,
    AlertsSection,
    AutoRollbackSection,
    BurnInSection,
    Config,
    ConsoleSection,
    CoverageSection,
    DatabaseSection,
    Gate,
    PrometheusSection,
    RolloutSection,
    Target,
)

__all__ = [
    "ActuatorSection", "AlertmanagerSection", "AlertsSection", "AutoRollbackSection", "BurnInSection", "Config",
    "ConfigError", "ConsoleSection", "packaged_config", "CoverageSection", "DatabaseSection", "Gate", "PrometheusSection",
    "RolloutSection", "Target", "default_config_path", "load_config", "parse_config",
]
