"""DESIGN.md's arrows, held by tests: checks imports nothing of ours nor any I/O
library; widgets import no I/O and nothing of the console."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return set(out.split())


def test_checks_imports_no_io_and_nothing_of_ours():
    for mod in ("checks.models", "checks.bands", "checks.verdict", "checks.breach", "checks.day1"):
        loaded = _modules_after_import(mod)
        for banned in ("textual", "httpx", "psycopg", "console", "widgets"):
            assert banned not in loaded, f"{mod} pulls in {banned}"


def test_widgets_import_no_io_and_not_the_console():
    loaded = _modules_after_import(
        "widgets.gates_table, widgets.alert_feed, widgets.rollout_panel, widgets.burn_in_panel,"
        " widgets.verdict_banner, widgets.gate_chart"
    )
    for banned in ("httpx", "psycopg", "console"):
        assert banned not in loaded, f"widgets pull in {banned}"


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
