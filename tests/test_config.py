"""config.toml validation: every bad input is refused with one paragraph naming the
file, the key and the line; the repository's config loads; Day-1 bands, soaks,
durations and secret masking behave as the design says.

Each file in tests/bad_configs/ is one bad case. Its header says what is expected:

    # case: what is wrong
    # expect: where the message must say it is      (e.g. [[targets]] #1 ('api'), key 'url')
    # says: a fragment of the reason
    # secret: a string that must not appear         (optional)

and the line the message must point at carries the comment `# <-- here`.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from checks.models import Bands, Condition
from console.config import Config, ConfigError, load_config, parse_config
from console.durations import DurationTooLong, format_duration, parse_duration
from console.secrets import forget_secrets, mask_text, mask_url, register_secret

HERE = Path(__file__).parent
REPO = HERE.parent
BAD = HERE / "bad_configs"
BAD_FILES = sorted(BAD.glob("*.toml"))

VALID_BASE = """
[[targets]]
name = "api"
url = "http://127.0.0.1:8080/health"

[[gates]]
name = "error_rate"
source = "probe"

[[gates]]
name = "p95_latency"
source = "probe"
"""


# --- helpers -------------------------------------------------------------------------


@dataclass
class Case:
    path: Path
    expect: str
    says: str
    line: int
    secret: str | None


def read_case(path: Path) -> Case:
    header: dict[str, str] = {}
    marked = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = re.match(r"^# (case|expect|says|secret): (.*)$", line)
        if m:
            header[m.group(1)] = m.group(2)
        if "# <-- here" in line:
            marked.append(n)
    assert {"case", "expect", "says"} <= header.keys(), f"{path.name}: header needs case, expect and says"
    assert len(marked) == 1, f"{path.name}: mark exactly one line with '# <-- here'"
    return Case(path, header["expect"], header["says"], marked[0], header.get("secret"))


def assert_operator_message(msg: str) -> None:
    """One paragraph for a person: no traceback, no pydantic internals."""
    assert "Traceback" not in msg
    assert "\n" not in msg
    for noise in ("pydantic", "Input should be", "Value error", "function-", "For further information", "KeyProblem"):
        assert noise not in msg, f"{noise!r} leaked into: {msg}"


def refused(path: Path | str, env: dict | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={} if env is None else env)
    msg = str(info.value)
    assert_operator_message(msg)
    return msg


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def gate_config(gate: str) -> Config:
    """A valid config with one target and the given [[gates]] entry (TOML body)."""
    raw = tomllib.loads(
        '[[targets]]\nname = "api"\nurl = "http://127.0.0.1:8080/health"\n\n[[gates]]\n'
        + gate
        + "\n[auto_rollback]\nenabled = false\n"
    )
    return parse_config(raw)


# --- every bad case in tests/bad_configs ------------------------------------------------


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.stem for p in BAD_FILES])
def test_bad_config_is_refused_naming_file_key_and_line(path):
    case = read_case(path)
    msg = refused(path)
    assert msg.startswith(f"{path}: "), msg
    assert case.expect in msg, msg
    if "not valid TOML" in case.expect:
        assert re.search(rf"\(line {case.line}, column \d+\)", msg), msg
    else:
        # the whole location, then the line, then the reason
        assert f"{path}: {case.expect} (line {case.line}): " in msg, msg
    assert case.says in msg, msg
    assert "more problem" not in msg, f"{path.name} should hold exactly one problem: {msg}"
    if case.secret:
        assert case.secret not in msg, msg


REQUIRED_CASES = {
    "toml_syntax_error", "unknown_top_level_key", "unknown_key_in_section", "unknown_key_in_target",
    "unknown_key_in_gate", "string_for_int", "int_for_duration", "duration_bad_unit", "duration_negative",
    "duration_zero", "duration_bare_number", "target_url_ftp", "target_url_no_host", "target_url_bad_port",
    "prometheus_url_ftp", "alertmanager_url_bad_port", "database_url_not_postgres", "steps_not_increasing",
    "steps_out_of_range", "steps_first_not_zero", "soak_list_wrong_length", "gate_window_zero",
    "gate_window_negative", "probe_gate_unknown_metric", "sql_gate_without_query", "probe_gate_with_query",
    "bands_green_without_red", "bands_overlap", "bands_same_direction", "gate_no_default_no_bands",
    "duplicate_target_names", "duplicate_gate_names", "probe_gate_missing_target",
    "promql_gate_without_prometheus", "auto_rollback_missing_gate", "burn_in_start_without_tz",
    "burn_in_review_before_start",
    # bounds (issue 8)
    "nesting_too_deep", "actuator_command_attribute_placeholder", "actuator_command_index_placeholder",
    "actuator_command_format_spec", "statement_timeout_too_long", "refresh_too_short", "duration_overflows",
    "target_timeout_too_long", "gate_window_too_long", "soak_too_long", "burn_in_days_too_many",
    "burn_in_ends_after_9999", "burn_in_start_out_of_range", "target_name_control_char", "gate_name_nul",
    "operator_control_char",
    # secrets (issue 8)
    "env_var_not_set", "env_reference_malformed", "header_name_invalid", "header_value_newline", "header_reserved",
    # configured SQL runs one statement (issue 8)
    "sql_gate_two_statements", "sql_gate_multiline_two_statements", "events_query_two_statements",
    "cost_query_two_statements", "database_query_url_not_postgres",
}


def test_every_required_bad_case_has_a_file():
    assert REQUIRED_CASES <= {p.stem for p in BAD_FILES}, REQUIRED_CASES - {p.stem for p in BAD_FILES}


def test_each_bad_case_is_bad_only_for_its_marked_line():
    """Dropping the marked line (or the marked header's table) is not enough in every
    case, but where the file becomes valid it proves the case tests one thing only."""
    for name, fixed in [
        ("unknown_key_in_target", ('intervl = "5s"', 'interval = "5s"')),
        ("unknown_key_in_gate", ('windw = "5m"', 'window = "5m"')),
        ("string_for_int", ('days = "7"', "days = 7")),
        ("duration_bare_number", ("interval = 15 ", 'interval = "15s" ')),
        ("steps_not_increasing", ("[0, 10, 10, 50, 100]", "[0, 10, 25, 50, 100]")),
        ("bands_overlap", ('red = "> 1"', 'red = "> 10"')),
        ("probe_gate_missing_target", ('target = "billing"', 'target = "auth"')),
        ("auto_rollback_missing_gate", ('"p95"]', '"p95_latency"]')),
        ("burn_in_review_before_start", ("2025-11-10T09", "2025-11-24T09")),
        ("statement_timeout_too_long", ('"25h"', '"24h"')),
        ("refresh_too_short", ('"50ms"', '"100ms"')),
        ("gate_window_too_long", ('"401d"', '"400d"')),
        ("burn_in_days_too_many", ("3651", "3650")),
        ("actuator_command_attribute_placeholder", ("{flag.nope}", "{{flag.nope}}")),
        ("actuator_command_format_spec", ("{percentage:>3}", "{percentage}")),
        ("operator_control_char", ("\\u009b", "-")),
    ]:
        text = (BAD / f"{name}.toml").read_text()
        assert fixed[0] in text, name
        parse_config(tomllib.loads(text.replace(*fixed)))  # must not raise


# --- files that cannot be read ------------------------------------------------------------


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nope.toml"
    msg = refused(path)
    assert msg == f"{path}: no such config file"


def test_directory_instead_of_file_is_named(tmp_path):
    msg = refused(tmp_path)
    assert msg.startswith(f"{tmp_path}: ") and "is a directory" in msg


def test_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[console]\noperator = "Zoë"\n'.encode("latin-1"))
    msg = refused(path)
    assert msg.startswith(f"{path}: ") and "not UTF-8" in msg


def test_syntax_error_shows_the_offending_line_without_its_password(tmp_path):
    path = write(tmp_path, '[database]\nurl = "postgresql://app:hunter2@db/x\n')
    msg = refused(path)
    assert "line 2" in msg and "hunter2" not in msg and "url =" in msg


# --- messages built without a file's text, and odd documents ------------------------------


def test_message_without_text_has_no_line_but_names_the_item():
    with pytest.raises(ConfigError) as info:
        parse_config({"rollout": {"steps": [0, 50, 20]}}, path="x.toml")
    assert str(info.value) == (
        "x.toml: [rollout], key 'steps', item 3: 20 does not come after 50; steps must be strictly increasing"
    )


def test_several_problems_are_counted():
    with pytest.raises(ConfigError) as info:
        parse_config({"console": {"refresh": "0s", "read_only": "no"},
                      "burn_in": {"start": "2025-11-11T16:00:00Z", "review": "2025-11-24T09:00:00Z", "days": 0}})
    assert "(2 more problem(s) after this one)" in str(info.value)


@pytest.mark.parametrize(
    "raw, where",
    [
        ({"targets": ["api"]}, "[[targets]] #1"),
        ({"gates": [{}]}, "[[gates]] #1, key 'name'"),
        ({"rollout": {"soak": {"a": 1}}}, "[rollout], key 'soak'"),
        ({"burn_in": {"start": 5}}, "[burn_in], key 'start'"),
        ({"database": "postgresql://db/x"}, "[database]"),
        ({"rollout": {"steps": "0,5,100"}}, "[rollout], key 'steps'"),
        ({"auto_rollback": {"gates": "error_rate"}}, "[auto_rollback], key 'gates'"),
        ({"targets": [{"name": "api", "url": "http://h/", "expect_status": [200, 700]}]},
         "[[targets]] #1 ('api'), key 'expect_status', item 2"),
    ],
)
def test_odd_documents_are_refused_with_a_location(raw, where):
    with pytest.raises(ConfigError) as info:
        parse_config(raw, path="odd.toml")
    msg = str(info.value)
    assert_operator_message(msg)
    assert msg.startswith(f"odd.toml: {where}"), msg


def test_line_finder_ignores_keys_inside_multiline_strings(tmp_path):
    path = write(
        tmp_path,
        VALID_BASE
        + '\n[[gates]]\nname = "p1"\nsource = "sql"\nquery = """\nselect 1\nwindow = 5\n"""\ngreen = "<= 0"\nred = ">= 1"\n'
        + 'window = "0s"\n',
    )
    lines = path.read_text().splitlines()
    expected = lines.index('window = "0s"') + 1
    assert f"[[gates]] #3 ('p1'), key 'window' (line {expected})" in refused(path)


def test_dotted_and_inline_keys_are_found(tmp_path):
    path = write(tmp_path, 'rollout.soak = "0s"\n' + VALID_BASE)
    assert "[rollout], key 'soak' (line 1)" in refused(path)
    path = write(tmp_path, 'database = { url = "mysql://db/x" }\n' + VALID_BASE)
    assert "[database], key 'url' (line 1)" in refused(path)


# --- the repository's config.toml -----------------------------------------------------


def test_repository_config_loads_cleanly_with_the_contract_keys():
    path = REPO / "config.toml"
    raw = tomllib.loads(path.read_text())
    contract = {
        "database": ["url", "data_dir"],
        "rollout": ["flag", "steps", "soak"],
        "prometheus": ["url"],
        "alertmanager": ["url"],
        "auto_rollback": ["enabled", "gates", "sustain", "consecutive"],
        "burn_in": ["start", "days", "review"],
    }
    for section, keys in contract.items():
        for key in keys:
            assert key in raw[section], f"config.toml lacks [{section}] {key}"
    for target in raw["targets"]:
        assert {"name", "url", "interval"} <= target.keys()
    assert {"name", "url", "interval", "timeout"} <= raw["targets"][0].keys()
    assert any(g["source"] == "probe" and "window" in g for g in raw["gates"])
    assert any(g["source"] == "sql" and g.get("query") for g in raw["gates"])

    config = load_config(path, env={})
    assert config.database.url == ""
    assert config.rollout.flag == "phase_4_deployment"
    assert config.rollout.steps == [0, 5, 10, 25, 50, 75, 100]
    assert config.rollout.soak == timedelta(hours=12)
    assert [t.name for t in config.targets] == [t["name"] for t in raw["targets"]]
    assert config.gate("error_rate").source == "probe"
    assert config.gate("error_rate").window == timedelta(minutes=5)
    assert config.auto_rollback.enabled is True
    assert config.auto_rollback.gates == ["error_rate", "p95_latency"]
    assert config.auto_rollback.sustain == timedelta(minutes=5)
    assert config.auto_rollback.consecutive == 3
    assert config.burn_in.start == datetime(2025, 11, 11, 16, tzinfo=timezone.utc)
    assert config.burn_in.days == 7
    assert config.burn_in.review == datetime(2025, 11, 24, 9, tzinfo=timezone.utc)
    assert config.burn_in.end == datetime(2025, 11, 18, 16, tzinfo=timezone.utc)


def test_packaged_demo_config_is_the_repository_config():
    assert (REPO / "console" / "default_config.toml").read_text() == (REPO / "config.toml").read_text()


def test_minimal_contract_example_loads(tmp_path):
    """The design's own config.toml example (with its comments dropped) is valid."""
    path = write(
        tmp_path,
        """
[database]
url = ""
data_dir = "~/.local/share/gonogo"

[rollout]
flag = "phase_4_deployment"
steps = [0, 5, 10, 25, 50, 75, 100]
soak = "12h"

[[targets]]
name = "api"
url = "http://127.0.0.1:8080/health"
interval = "15s"
timeout = "2s"

[[gates]]
name = "error_rate"
source = "probe"
window = "5m"

[[gates]]
name = "p95_latency"
source = "probe"

[[gates]]
name = "p1_incidents_7d"
source = "sql"
query = "select count(*) from incidents where severity = 'P1' and opened_at > now() - interval '7 days'"
green = "<= 0"
red = ">= 1"

[prometheus]
url = ""

[alertmanager]
url = ""

[auto_rollback]
enabled = true
gates = ["error_rate", "p95_latency"]
sustain = "5m"
consecutive = 3

[burn_in]
start = "2025-11-11T16:00:00Z"
days = 7
review = "2025-11-24T09:00:00Z"
""",
    )
    config = load_config(path, env={})
    assert config.targets[0].interval == timedelta(seconds=15)
    assert config.gate("p1_incidents_7d").bands == Bands(green=Condition.parse("<= 0"), red=Condition.parse(">= 1"))


def test_toml_datetimes_with_a_zone_are_accepted(tmp_path):
    path = write(tmp_path, VALID_BASE + "\n[burn_in]\nstart = 2025-11-11T17:00:00+01:00\nreview = 2025-11-24T09:00:00Z\n")
    assert load_config(path, env={}).burn_in.start == datetime(2025, 11, 11, 16, tzinfo=timezone.utc)


# --- GONOGO_DATABASE_URL ----------------------------------------------------------------


def test_environment_database_url_overrides_the_file():
    url = "postgresql://gonogo:s3cret@db.internal:5432/gonogo"
    config = load_config(REPO / "config.toml", env={"GONOGO_DATABASE_URL": url})
    assert config.database.url == url
    assert config.database.data_dir == "~/.local/share/gonogo"  # the rest of [database] still from the file
    assert load_config(REPO / "config.toml", env={}).database.url == ""
    assert load_config(REPO / "config.toml", env={"GONOGO_DATABASE_URL": ""}).database.url == ""


def test_environment_database_url_applies_without_a_database_section(tmp_path):
    path = write(tmp_path, VALID_BASE)
    config = load_config(path, env={"GONOGO_DATABASE_URL": "postgresql://db/x"})
    assert config.database.url == "postgresql://db/x"


def test_environment_database_url_is_read_from_the_process_environment(monkeypatch):
    monkeypatch.setenv("GONOGO_DATABASE_URL", "postgresql://db.example/x")
    assert load_config(REPO / "config.toml").database.url == "postgresql://db.example/x"


def test_bad_environment_database_url_is_named_without_its_password():
    msg = refused(REPO / "config.toml", env={"GONOGO_DATABASE_URL": "mysql://app:hunter2@db/x"})
    assert msg.startswith("GONOGO_DATABASE_URL")
    assert "postgresql://" in msg and "hunter2" not in msg


# --- gates: Day-1 bands ------------------------------------------------------------------

DAY1 = [
    # name, source, green, red: the Day-1 matrix as the design writes it
    ("error_rate", "probe", "< 0.1", "> 1.0"),
    ("p95_latency", "probe", "< 200", "> 500"),
    ("uptime", "probe", ">= 100", "< 99.9"),
    ("checks_passing", "probe", ">= 100", "< 80"),
    ("test_pass_rate", "sql", ">= 98", "< 95"),
    ("critical_alerts", "sql", "<= 0", ">= 3"),
]


@pytest.mark.parametrize("name, source, green, red", DAY1, ids=[d[0] for d in DAY1])
def test_gate_without_bands_takes_the_day1_bands(name, source, green, red):
    query = 'query = "select 1"\n' if source == "sql" else ""
    config = gate_config(f'name = "{name}"\nsource = "{source}"\n{query}')
    assert config.gate(name).bands == Bands(green=Condition.parse(green), red=Condition.parse(red))


def test_probe_gate_takes_the_day1_bands_of_its_metric():
    gate = gate_config('name = "api_errors"\nsource = "probe"\nmetric = "error_rate"\ntarget = "api"\n').gate("api_errors")
    assert gate.probe_metric == "error_rate"
    assert gate.bands == Bands(green=Condition.parse("< 0.1"), red=Condition.parse("> 1.0"))
    assert gate.display_unit == "%"


def test_gate_bands_of_its_own_replace_the_day1_ones():
    gate = gate_config('name = "uptime"\nsource = "probe"\ngreen = ">= 99.98"\nred = "< 99.9"\n').gate("uptime")
    assert gate.bands == Bands(green=Condition.parse(">= 99.98"), red=Condition.parse("< 99.9"))
    assert load_config(REPO / "config.toml", env={}).gate("uptime").bands.green == Condition.parse(">= 99.98")


# --- rollout soaks -----------------------------------------------------------------------


def test_one_soak_for_every_step():
    config = parse_config({"rollout": {"soak": "12h"}, "auto_rollback": {"enabled": False}})
    assert {config.rollout.soak_for(p) for p in config.rollout.steps} == {timedelta(hours=12)}


def test_a_soak_per_step():
    config = parse_config(
        {"rollout": {"steps": [0, 10, 50, 100], "soak": ["1m", "1h", "6h", "1d"]}, "auto_rollback": {"enabled": False}}
    )
    r = config.rollout
    assert [r.soak_for(p) for p in (0, 10, 50, 100)] == [
        timedelta(minutes=1), timedelta(hours=1), timedelta(hours=6), timedelta(days=1)
    ]
    # a percentage that is not a step (the steps changed mid-rollout): the step below it
    assert r.soak_for(30) == timedelta(hours=1)


# --- durations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("500ms", timedelta(milliseconds=500)),
        ("15s", timedelta(seconds=15)),
        ("5m", timedelta(minutes=5)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("1.5h", timedelta(minutes=90)),
        (" 5 m ", timedelta(minutes=5)),
    ],
)
def test_durations_parse(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "bad", ["5x", "-5m", "0s", "0ms", "", "5", "5 minutes", "1h30m", "5M", 15, 2.5, True, None, "0.0001ms", "9" * 400 + "d"]
)
def test_bad_durations_raise_value_error_naming_the_value(bad):
    with pytest.raises(ValueError) as info:
        parse_duration(bad)
    # a plain ValueError (or DurationTooLong, one): not OverflowError, not a pydantic error
    assert type(info.value) in (ValueError, DurationTooLong)
    assert repr(bad)[:20] in str(info.value) or str(bad)[:20] in str(info.value)


@pytest.mark.parametrize("text", ["500ms", "15s", "5m", "12h", "7d"])
def test_format_duration_round_trips(text):
    assert format_duration(parse_duration(text)) == text


def test_format_duration_picks_the_largest_whole_unit():
    assert format_duration(timedelta(seconds=90)) == "90s"
    assert format_duration(timedelta(hours=48)) == "2d"
    assert format_duration(timedelta(milliseconds=1500)) == "1500ms"


# --- secrets -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, masked",
    [
        # a URL shows its scheme, host and port: userinfo, path, query and fragment never
        ("postgresql://app:hunter2@db:5432/gonogo", "postgresql://db:5432/***"),
        ("postgres://app:hunter2@db/gonogo?sslmode=require", "postgres://db/***"),
        ("postgresql://app:p@ss@db/x", "postgresql://db/***"),
        ("postgresql://app:pa/ss@db/x", "postgresql://db/***"),
        ("postgresql://db/x?user=app&password=hunter2&sslmode=require", "postgresql://db/***"),
        ("postgresql://app:hunter2@db/x?password=hunter2", "postgresql://db/***"),
        ("postgresql://app@db:5432/gonogo", "postgresql://db:5432/***"),
        ("postgresql:///gonogo?host=/var/run/postgresql", "postgresql:///***"),
        ("https://hooks.example:8443/T01/B02/hunter2", "https://hooks.example:8443/***"),
        ("https://hooks.example/flags?token=hunter2&x=1", "https://hooks.example/***"),
        ("https://hooks.example/#hunter2", "https://hooks.example/***"),
        ("http://hunter2@[::1]:9090/api", "http://[::1]:9090/***"),
        ("http://host:8080/path@v2", "http://host:8080/***"),
        ("http://hunter2 x/", "http://***"),  # not a host: nothing shown
        # nothing after the host but "/": shown as written, less its userinfo
        ("http://127.0.0.1:9090", "http://127.0.0.1:9090"),
        ("http://127.0.0.1:9090/", "http://127.0.0.1:9090/"),
        ("https://bot:hunter2@hooks.example/", "https://hooks.example/"),
        # libpq key=value strings: the password
        ("host=db user=app password=hunter2 dbname=x", "host=db user=app password=*** dbname=x"),
        ("host=db password = 'hun ter2' dbname=x", "host=db password = *** dbname=x"),
        ("host=db PASSWORD=hunter2", "host=db PASSWORD=***"),
    ],
)
def test_mask_url_shows_only_scheme_host_and_port(url, masked):
    assert mask_url(url) == masked
    assert "hunter2" not in mask_url(url) and "ter2" not in mask_url(url)
    if "://" in url:
        assert "app" not in mask_url(url)  # a user name is userinfo too


@pytest.mark.parametrize("text", ["", "host=db user=app dbname=x", "not a url at all"])
def test_mask_url_leaves_text_without_secrets_unchanged(text):
    assert mask_url(text) == text


def test_mask_text_masks_every_url_and_libpq_password_in_a_message():
    text = (
        "connection to postgresql://app:hunter2@db:5432/x?sslmode=require failed; "
        "retrying 'host=db password=hunter3 dbname=x' and "
        "http://probe:hunter4@127.0.0.1:8080/health (timeout); http://127.0.0.1:9090 is fine."
    )
    masked = mask_text(text)
    for secret in ("hunter2", "hunter3", "hunter4"):
        assert secret not in masked
    assert masked == (
        "connection to postgresql://db:5432/*** failed; "
        "retrying 'host=db password=*** dbname=x' and "
        "http://127.0.0.1:8080/*** (timeout); http://127.0.0.1:9090 is fine."
    )


def test_the_hint_for_a_missing_url_shows_gonogos_own_example_whole(tmp_path):
    """The example in a hint is ours and public: masked, it would tell the user to write
    `http://127.0.0.1:8080/***`. Any other URL in a message is still masked."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('[[targets]]\nname = "api"\n')
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    assert 'write it like url = "http://127.0.0.1:8080/health"' in str(e.value)
    assert mask_text("see http://127.0.0.1:8080/health?token=s3cret") == "see http://127.0.0.1:8080/***"


def test_mask_text_keeps_the_punctuation_after_a_url():
    assert mask_text("at postgresql://db/x?password=hunter2&sslmode=require, then (http://h:80).") == (
        "at postgresql://db/***, then (http://h:80)."
    )


# --- secrets: ${NAME} from the environment, headers, the registry (issue 8) ----------


@pytest.fixture
def fresh_secrets():
    """The secrets registry is process-wide: start and leave it empty."""
    forget_secrets()
    yield
    forget_secrets()


def test_env_references_are_substituted_in_every_string(tmp_path, fresh_secrets):
    path = write(tmp_path, VALID_BASE.replace("/health", "/health/${GONOGO_T_PATH}") + """
[console]
operator = "${GONOGO_T_OPERATOR}"

[actuator]
type = "command"
command = ["deploy", "--token=${GONOGO_T_TOKEN}", "{flag}", "$${{LITERAL}}"]
""")
    env = {"GONOGO_T_PATH": "p4th-s3cret", "GONOGO_T_OPERATOR": "carol", "GONOGO_T_TOKEN": "tok3n-s3cret"}
    config = load_config(path, env=env)
    assert config.targets[0].url == "http://127.0.0.1:8080/health/p4th-s3cret"
    assert config.console.operator == "carol"
    assert config.actuator.command == ["deploy", "--token=tok3n-s3cret", "{flag}", "${{LITERAL}}"]  # $${ is ${
    # values from the environment are never displayed, wherever they turn up
    shown = mask_text("deploy --token=tok3n-s3cret failed for p4th-s3cret (carol)")
    assert shown == "deploy --token=*** failed for *** (***)"


def test_an_unset_variable_names_file_key_and_line(tmp_path):
    path = write(tmp_path, VALID_BASE + '\n[prometheus]\nurl = "http://127.0.0.1:9090"\nheaders = { Authorization = "Bearer ${GONOGO_PROM_TOKEN}" }\n')
    msg = refused(path, env={"OTHER": "x"})
    line = path.read_text().splitlines().index('headers = { Authorization = "Bearer ${GONOGO_PROM_TOKEN}" }') + 1
    assert msg == (f"{path}: [prometheus], key 'headers.Authorization' (line {line}): "
                   "environment variable GONOGO_PROM_TOKEN is not set")


def test_an_error_in_a_value_from_the_environment_shows_the_reference_not_the_value(tmp_path, fresh_secrets):
    path = write(tmp_path, VALID_BASE + '\n[alertmanager]\nurl = "${GONOGO_AM_URL}"\n')
    msg = refused(path, env={"GONOGO_AM_URL": "ftp://am-user:am-pass@alerts.internal/x"})
    assert "'${GONOGO_AM_URL}' uses ftp://" in msg
    for leaked in ("am-user", "am-pass", "alerts.internal"):
        assert leaked not in msg, msg
    path = write(tmp_path, VALID_BASE.replace('name = "api"', 'name = "${GONOGO_T_NAME}"'))
    msg = refused(path, env={"GONOGO_T_NAME": " sp4ced-name"})
    assert "sp4ced-name" not in msg and "${GONOGO_T_NAME}" in msg, msg


def test_the_database_url_override_still_wins_over_a_reference(tmp_path):
    path = write(tmp_path, VALID_BASE + '\n[database]\nurl = "${GONOGO_T_DB}"\n')
    config = load_config(path, env={"GONOGO_T_DB": "postgresql://db-a/x", "GONOGO_DATABASE_URL": "postgresql://db-b/x"})
    assert config.database.url == "postgresql://db-b/x"


def test_headers_are_accepted_where_requests_are_made_and_their_values_are_secret(tmp_path, fresh_secrets):
    path = write(tmp_path, VALID_BASE.replace(
        'url = "http://127.0.0.1:8080/health"',
        'url = "http://127.0.0.1:8080/health"\nheaders = { Authorization = "Bearer pr0be-t0ken", X-Tenant = "t1" }',
    ) + """
[prometheus]
url = "http://127.0.0.1:9090"
headers = { Authorization = "Bearer ${GONOGO_T_PROM}" }

[alertmanager]
url = "http://127.0.0.1:9093"
headers = { "X-Scope-OrgID" = "am-0rg-secret" }

[actuator]
type = "http"
url = "https://flags.example/api"
headers = { Authorization = "Bearer fl4gs-t0ken" }
""")
    config = load_config(path, env={"GONOGO_T_PROM": "pr0m-t0ken"})
    assert config.targets[0].headers == {"Authorization": "Bearer pr0be-t0ken", "X-Tenant": "t1"}
    assert config.prometheus.headers == {"Authorization": "Bearer pr0m-t0ken"}
    assert config.alertmanager.headers == {"X-Scope-OrgID": "am-0rg-secret"}
    assert config.actuator.headers == {"Authorization": "Bearer fl4gs-t0ken"}
    text = ("401 for Bearer pr0be-t0ken, Bearer pr0m-t0ken, am-0rg-secret, Bearer fl4gs-t0ken; "
            "tenant t1 of t10 at 127.0.0.1")
    assert mask_text(text) == "401 for ***, ***, ***, ***; tenant *** of t10 at 127.0.0.1"


@pytest.mark.parametrize("headers, says", [
    ('{ Authorization = "a", authorization = "b" }', "'authorization' is given twice"),
    ('{ X-Name = "caf\\u00e9-s3cret" }', "contains a non-ASCII character"),
    ('{ X-Name = "nul\\u0000-s3cret" }', "contains a control character ('\\x00')"),
    ('{ X-Name = 5 }', "must be a string in quotes"),
    ('"Bearer s3cret"', "headers is a table of names and values"),
    ('{ Host = "evil.example" }', "'Host' is set by gonogo itself"),
    ('{ "" = "x" }', "'' is not a header name"),
])
def test_bad_headers_are_refused_without_showing_the_value(tmp_path, headers, says):
    path = write(tmp_path, VALID_BASE + f'\n[prometheus]\nurl = "http://127.0.0.1:9090"\nheaders = {headers}\n')
    msg = refused(path)
    assert f"{path}: [prometheus], key 'headers" in msg and says in msg, msg
    assert "s3cret" not in msg


def test_registered_secrets_are_masked_short_ones_only_as_whole_tokens(fresh_secrets):
    register_secret("abc")
    register_secret("a-long-s3cret-value")
    register_secret("")  # nothing to mask: ignored
    assert mask_text("abc abcdef xabc abc. a-long-s3cret-value!") == "*** abcdef xabc ***. ***!"
    assert mask_url("https://h.example/?k=abc") == "https://h.example/***"
    assert mask_text("https://a-long-s3cret-value.example/") == "https://***.example/"


# --- bounds (issue 8) ----------------------------------------------------------------

_TARGET = {"name": "api", "url": "http://127.0.0.1:8080/health"}
_GATE = {"name": "error_rate", "source": "probe"}


def _with(section: str, key: str, value) -> dict:
    raw: dict = {"targets": [dict(_TARGET)], "gates": [dict(_GATE)], "auto_rollback": {"enabled": False}}
    if section in ("targets", "gates"):
        raw[section][0][key] = value
    else:
        raw.setdefault(section, {})[key] = value
    if section == "actuator":
        raw["actuator"].update(type="http", url="https://flags.example/api")
    return raw


DURATION_BOUNDS = [
    # section, key, the longest accepted, what the message calls it
    ("console", "refresh", "24h", "the refresh"),
    ("database", "retention", "400d", "the retention"),
    ("database", "statement_timeout", "24h", "a timeout"),
    ("rollout", "soak", "400d", "a soak"),
    ("targets", "interval", "24h", "an interval"),
    ("targets", "timeout", "24h", "a timeout"),
    ("gates", "window", "400d", "a window"),
    ("gates", "interval", "24h", "an interval"),
    ("gates", "timeout", "24h", "a timeout"),
    ("prometheus", "timeout", "24h", "a timeout"),
    ("alertmanager", "interval", "24h", "an interval"),
    ("alertmanager", "timeout", "24h", "a timeout"),
    ("alerts", "interval", "24h", "an interval"),
    ("auto_rollback", "sustain", "400d", "a window"),
    ("actuator", "timeout", "24h", "a timeout"),
]


@pytest.mark.parametrize("section, key, most, what", DURATION_BOUNDS, ids=[f"{s}.{k}" for s, k, *_ in DURATION_BOUNDS])
def test_every_duration_has_a_maximum_named_in_the_message(section, key, most, what):
    parse_config(_with(section, key, most))  # the bound itself is accepted
    over = "25h" if most == "24h" else "401d"
    for value in (over, "999999999999d"):  # just over, and far past what a timedelta holds
        with pytest.raises(ConfigError) as info:
            parse_config(_with(section, key, value), path="b.toml")
        msg = str(info.value)
        assert_operator_message(msg)
        assert f"key '{key}'" in msg and f"{value!r} is too long for {what}: the most is {most}" in msg, msg


def test_refresh_has_a_minimum():
    parse_config(_with("console", "refresh", "100ms"))
    with pytest.raises(ConfigError, match="'99ms' is too short for the refresh: the least is 100ms"):
        parse_config(_with("console", "refresh", "99ms"))


@pytest.mark.parametrize("arg", ["{flag}", "{percentage}%", "{previous}-{key}", "{{literal}}", "plain"])
def test_documented_placeholders_pass(arg):
    raw = _with("actuator", "timeout", "5s")
    raw["actuator"] = {"type": "command", "command": ["deploy", arg]}
    parse_config(raw)


@pytest.mark.parametrize("arg", ["{flag.__class__}", "{flag[0]}", "{0}", "{}", "{flag!s}", "{key:x}", "{nope}", "{", "}"])
def test_undocumented_placeholders_are_refused(arg):
    raw = _with("actuator", "timeout", "5s")
    raw["actuator"] = {"type": "command", "command": ["deploy", arg]}
    with pytest.raises(ConfigError, match=r"\[actuator\], key 'command', item 2: .*the only placeholders are"):
        parse_config(raw)


def test_a_device_a_pipe_and_a_huge_file_are_refused_without_reading_them(tmp_path):
    import os

    assert refused("/dev/zero") == "/dev/zero: is a character device, not a regular file; give the path of a .toml file"
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)  # nobody writes: opening it for reading must not hang
    assert refused(fifo) == f"{fifo}: is a named pipe, not a regular file; give the path of a .toml file"
    big = write(tmp_path, VALID_BASE + "#" * (1024 * 1024), "big.toml")
    assert refused(big) == f"{big}: too large: a config file is at most 1 MiB (1048576 bytes)"
    padded = VALID_BASE + "\n[auto_rollback]\nenabled = false\n#"
    just = write(tmp_path, padded + "x" * (1024 * 1024 - len(padded.encode())), "just.toml")
    assert just.stat().st_size == 1024 * 1024
    load_config(just, env={})


def test_a_symlink_to_a_config_file_is_read(tmp_path):
    real = write(tmp_path, VALID_BASE, "real.toml")
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    assert load_config(link, env={}).targets[0].name == "api"


@pytest.mark.parametrize("text, where", [
    ("a = " + "[" * 100_000 + "]" * 100_000 + "\n", "top-level key 'a' (line 1)"),
    ("[console]\nx = " + "{ a = " * 50_000 + "1" + " }" * 50_000 + "\n", "[console], key 'x' (line 2)"),
    ('[rollout]\nsoak = "[[[[" # [[[[\nsteps = [\n' + "[" * 40 + "]" * 40 + "]\n", "[rollout], key 'steps' (line 3)"),
])
def test_deep_nesting_is_refused_with_its_line_not_a_recursion_error(tmp_path, text, where):
    path = write(tmp_path, text)
    msg = refused(path)
    assert msg.startswith(f"{path}: {where}: nested more than 32 levels"), msg


def test_deep_dotted_keys_and_strings_full_of_brackets_are_fine(tmp_path):
    path = write(tmp_path, "a" + ".a" * 5000 + " = 1\n")
    assert "unknown section" in refused(path)
    path = write(tmp_path, VALID_BASE + '\n[console]\noperator = "' + "[" * 100 + '"\n')
    assert load_config(path, env={}).console.operator == "[" * 100


def test_the_operator_from_the_environment_is_shown_escaped(monkeypatch):
    config = parse_config({"auto_rollback": {"enabled": False}})
    monkeypatch.setenv("USER", "bob\x1b]0;pwned\x07\u202e")
    assert config.operator == "bob\\x1b]0;pwned\\x07\\u202e"
    monkeypatch.setenv("USER", "alice")
    assert config.operator == "alice"


QUIET = {"auto_rollback": {"enabled": False}}  # a config with nothing else to check


def test_without_a_burn_in_there_is_none_and_no_dates_are_made_up():
    assert parse_config(QUIET).burn_in is None
    bi = parse_config({**QUIET, "burn_in": {"start": "2026-01-05T09:00:00Z", "review": "2026-01-13T09:00:00Z"}}).burn_in
    assert (bi.days, bi.end.isoformat()) == (7, "2026-01-12T09:00:00+00:00")


def test_a_burn_in_without_its_start_or_review_names_the_key():
    with pytest.raises(ConfigError) as info:
        parse_config({**QUIET, "burn_in": {"days": 7, "review": "2026-01-13T09:00:00Z"}}, path="x.toml")
    assert str(info.value).startswith("x.toml: [burn_in], key 'start'") and "required" in str(info.value)


def test_the_operator_falls_back_to_the_login_name(monkeypatch):
    import pwd

    for name in ("USER", "LOGNAME"):
        monkeypatch.delenv(name, raising=False)
    assert parse_config(QUIET).operator == pwd.getpwuid(os.getuid()).pw_name
    monkeypatch.setenv("USER", "ann")
    assert parse_config(QUIET).operator == "ann"
    assert parse_config({**QUIET, "console": {"operator": "bob"}}).operator == "bob"
