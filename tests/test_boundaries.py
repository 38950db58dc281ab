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


def _modules_of(package: str) -> list[str]:
    """Every module of a package and of its packages (checks.models is one), so a new
    one is covered without editing this test."""
    found = set()
    for p in (ROOT / package).rglob("*.py"):
        parts = p.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if len(parts) > 1:
            found.add(".".join(parts))
    return sorted(found)


def test_checks_imports_no_io_and_nothing_of_ours():
    for mod in _modules_of("checks"):
        loaded = _modules_after_import(mod)
        for banned in ("textual", "httpx", "aiohttp", "psycopg", "console", "widgets"):
            assert banned not in loaded, f"{mod} pulls in {banned}"


def test_widgets_import_no_io_and_not_the_console():
    loaded = _modules_after_import(", ".join(_modules_of("widgets")))
    for banned in ("httpx", "aiohttp", "psycopg", "console"):
        assert banned not in loaded, f"widgets pull in {banned}"


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def _imports(path: Path) -> set[str]:
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_widgets_see_only_the_models_of_checks():
    # A widget renders what it is given: judging (bands, verdicts, formatting of a
    # judged value) happens before the snapshot reaches it. The one exception is the
    # spelling of a duration (checks.durations, which judges nothing and imports
    # nothing): a countdown ticks in the widget, between snapshots.
    for path in sorted((ROOT / "widgets").glob("*.py")):
        from_checks = {m for m in _imports(path) if m == "checks" or m.startswith("checks.")}
        assert from_checks <= WIDGETS_MAY_SEE, f"{path.name} imports {sorted(from_checks)}"


# models (through its one door: not its family modules), and how a duration and a time are spelled
WIDGETS_MAY_SEE = {"checks.models", "checks.durations", "checks.times"}


def test_the_widgets_contract_names_every_other_module_of_checks():
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    widgets = next(c for c in contracts if c["source_modules"] == ["widgets"] and "checks.verdict" in c["forbidden_modules"])
    assert set(widgets["forbidden_modules"]) == set(_modules_of("checks")) - WIDGETS_MAY_SEE
