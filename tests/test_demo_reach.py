"""Reaching the demo from another shell: `--demo` on any command reads the demo's
own database (not the console's), and plain `status` says it is not the demo's."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def gonogo(*args, timeout=90):
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


@pytest.fixture
def reachable_dir():
    """A directory for the demo's database outside pytest's temporary folder: pytest
    sets that folder back to 0700 as each of its workers starts, and an initdb run by
    the server's own user (as root) in that moment fails. Every server started under
    it is stopped, and it is removed."""
    from .outage import stop_server

    d = Path(tempfile.mkdtemp(prefix="gonogo-demo-test-"))
    d.chmod(0o755)
    yield d
    for pid_file in d.rglob("postmaster.pid"):
        stop_server(pid_file.parent)
    shutil.rmtree(d, ignore_errors=True)


def demo_config_file(tmp_path: Path) -> Path:
    """The repository's config with the databases under tmp_path (reachable by the
    server's own user when run as root)."""
    data = tmp_path / "pg"
    data.mkdir()
    data.chmod(0o755)
    tmp_path.chmod(0o755)
    text = (REPO / "config.toml").read_text()
    text, n = re.subn(r'(?m)^data_dir = .*$', f'data_dir = "{data}"', text)
    assert n == 1
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    return cfg


def test_demo_flag_without_a_demo_is_data_unavailable_and_says_how(reachable_dir):
    tmp_path = reachable_dir
    cfg = demo_config_file(tmp_path)
    r = gonogo("status", "--demo", "--config", str(cfg))
    assert r.returncode == 3, r.stderr
    assert "no demo has run" in r.stderr and "gonogo demo" in r.stderr
    assert not (tmp_path / "pg" / "demo-pg").exists()  # nothing started for nothing


def test_status_with_demo_reads_the_demos_rollout_and_without_it_says_it_is_apart(reachable_dir):
    tmp_path = reachable_dir
    from console.config import load_config
    from console.demo.run import prepare_demo

    cfg = demo_config_file(tmp_path)
    _, service = prepare_demo(load_config(cfg), port=0)
    try:
        seen = gonogo("status", "--demo", "--json", "--config", str(cfg))
        assert seen.returncode == 0, seen.stderr
        status = json.loads(seen.stdout)
        assert (status["percentage"], status["state"], status["version"]) == (10, "soaking", 3)
        assert [h["to"] for h in status["history"]] == [5, 10]

        checked = gonogo("check", "--demo", "--json", "--config", str(cfg))
        assert checked.returncode in (0, 1), checked.stderr  # an answer, not "data unavailable"
        gates = {g["name"]: g["band"] for g in json.loads(checked.stdout)["gates"]}
        assert gates["p1_incidents_7d"] == "green"  # the demo's own SQL, on the demo's database

        own = gonogo("status", "--json", "--config", str(cfg))
        assert own.returncode == 0, own.stderr
        assert (json.loads(own.stdout)["percentage"], json.loads(own.stdout)["version"]) == (0, 1)
        assert "the demo's is apart (add --demo to reach it)" in own.stderr
    finally:
        service.stop()
