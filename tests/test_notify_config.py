"""[[notify]] in config.toml: each bad webhook is refused naming the file, the entry,
the key and the line, never showing the webhook's secret path or a header value;
a good one takes the documented defaults."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from console.config import ConfigError, load_config
from console.config.notify import NOTIFY_EVENTS
from console.secrets import forget_secrets, mask_text

QUIET = "[auto_rollback]\nenabled = false\n\n"


@pytest.fixture(autouse=True)
def _forget():
    yield
    forget_secrets()


def refused(tmp_path: Path, text: str, env: dict | None = None) -> tuple[str, Path]:
    path = tmp_path / "config.toml"
    path.write_text(QUIET + text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    msg = str(info.value)
    assert "Traceback" not in msg and "\n" not in msg and "pydantic" not in msg
    return msg, path


@pytest.mark.parametrize("body, where, says", [
    ('name = "ops"\nurl = "https://hooks.example/T/B/x"\nevents = ["auto_rollback", "deploy"]  # here',
     "[[notify]] #1 ('ops'), key 'events', item 2", "'deploy' is not one of"),
    ('name = "ops"\nurl = "ftp://hooks.example/T/B/x"  # here',
     "[[notify]] #1 ('ops'), key 'url'", "must start with http:// or https://"),
    ('name = "ops"\nurl = "https:///T/B/x"  # here', "[[notify]] #1 ('ops'), key 'url'", "has no host"),
    ('name = "ops"\nurl = "https://hooks.example/T/B/x"\nformat = "teams"  # here',
     "[[notify]] #1 ('ops'), key 'format'", "'teams' is not one of 'slack' or 'json'"),
    ('name = "ops"\nurl = "https://hooks.example/T/B/x"\nevents = []  # here',
     "[[notify]] #1 ('ops'), key 'events'", "give at least one event"),
    ('name = "ops"\nurl = "https://hooks.example/T/B/x"\ntimeout = "5"  # here',
     "[[notify]] #1 ('ops'), key 'timeout'", "unit"),
    ('name = "ops"\nurl = "https://hooks.example/T/B/x"\nattempts = 0  # here',
     "[[notify]] #1 ('ops'), key 'attempts'", "at least 1"),
    ('name = "ops"\nurl = "https://hooks.example/T/B/x"\nretries = 3  # here',
     "[[notify]] #1 ('ops'), key 'retries'", "unknown key"),
    ('name = "ops"', "[[notify]] #1 ('ops'), key 'url'", "required"),
])
def test_a_bad_webhook_is_refused_naming_file_entry_key_and_line(tmp_path, body, where, says):
    msg, path = refused(tmp_path, "[[notify]]\n" + body + "\n")
    lines = (QUIET + "[[notify]]\n" + body).splitlines()
    # the line marked, or for a key left out, the entry's [[notify]]
    line = next((n for n, ln in enumerate(lines, 1) if ln.endswith("# here")), lines.index("[[notify]]") + 1)
    assert msg.startswith(f"{path}: {where} (line {line}): "), msg
    assert says in msg, msg
    assert "T/B/x" not in msg, "the webhook's path is its secret"


def test_two_webhooks_of_one_name_are_refused(tmp_path):
    msg, path = refused(tmp_path, '[[notify]]\nname = "ops"\nurl = "https://a.example/1"\n\n'
                                  '[[notify]]\nname = "ops"  # the second\nurl = "https://b.example/2"\n')
    assert msg.startswith(f"{path}: [[notify]] #2 ('ops'), key 'name' (line 9): "), msg
    assert "already the name of [[notify]] #1" in msg


def test_a_notify_table_written_with_one_bracket_says_to_write_two(tmp_path):
    msg, _ = refused(tmp_path, '[notify]\nname = "ops"\nurl = "https://a.example/1"\n')
    assert "write [[notify]] (two brackets)" in msg


def test_a_secret_url_from_the_environment_is_never_in_a_message(tmp_path):
    env = {"SLACK_HOOK": "T0001/B0002/zzSECRETzz"}
    msg, _ = refused(tmp_path, '[[notify]]\nname = "ops"\nurl = "https://hooks.slack.com/services/${SLACK_HOOK}"\n'
                               'format = "xml"\n', env=env)
    assert "key 'format'" in msg and "zzSECRETzz" not in msg


def test_a_header_value_is_never_in_a_message(tmp_path):
    msg, _ = refused(tmp_path, '[[notify]]\nname = "ops"\nurl = "https://a.example/1"\n'
                               'headers = { Authorization = "Bearer abc\\u0001def" }\n')
    assert "key 'headers.Authorization'" in msg and "abc" not in msg


def test_a_good_webhook_takes_the_defaults_and_its_secrets_are_masked_everywhere(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(QUIET + '[[notify]]\nname = "ops"\nurl = "https://hooks.slack.com/services/${SLACK_HOOK}"\n'
                            'headers = { X-Token = "${HOOK_TOKEN}" }\n\n'
                            '[[notify]]\nname = "audit"\nurl = "https://audit.example/in?key=k3y-v4lue-long"\n'
                            'format = "json"\nevents = ["review_decision", "rollout_action"]\ntimeout = "2s"\n'
                            'attempts = 3\n', encoding="utf-8")
    config = load_config(path, env={"SLACK_HOOK": "T0001/B0002/zzSECRETzz", "HOOK_TOKEN": "tok-123456789"})
    ops, audit = config.notify
    assert (ops.format, ops.events, ops.timeout, ops.attempts) == ("slack", list(NOTIFY_EVENTS), timedelta(seconds=5), 8)
    assert (audit.format, audit.events, audit.timeout, audit.attempts) == (
        "json", ["review_decision", "rollout_action"], timedelta(seconds=2), 3)
    assert ops.wants("auto_rollback") and audit.wants("auto_rollback")  # an auto-rollback is a rollout action
    assert not audit.wants("critical_alert_opened")
    said = mask_text("POST /services/T0001/B0002/zzSECRETzz failed; header tok-123456789; query key=k3y-v4lue-long")
    assert "zzSECRETzz" not in said and "tok-123456789" not in said and "k3y-v4lue-long" not in said


def test_no_notify_is_no_webhooks(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(QUIET, encoding="utf-8")
    assert load_config(path, env={}).notify == []


def test_the_shipped_configs_document_notify_and_still_load():
    repo = Path(__file__).resolve().parents[1]
    for shipped in (repo / "config.toml", repo / "console" / "default_config.toml"):
        assert "# [[notify]]" in shipped.read_text(encoding="utf-8")  # byte-identical: tests/test_config.py
    assert load_config(repo / "config.toml", env={}).notify == []
