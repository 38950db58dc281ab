"""The one function that shows outside text, its report and log counterparts, and a
guard that keeps every widget on it."""
from __future__ import annotations

import ast
import logging
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from console.logs import MaskSecrets
from console.report import md
from widgets.literal import literal, visible

from .hostile import TEXTS, foreign_controls

ROOT = Path(__file__).resolve().parent.parent


@given(st.text())
def test_visible_leaves_no_control_character(text):
    out = visible(text)
    assert not foreign_controls(out) and "\n" not in out and "\t" not in out


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\u2028\u2029\u061c\u200e\u200f"
                                      "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")))
def test_printable_text_is_unchanged(text):
    assert visible(text) == text
    assert literal(text, limit=None).plain == text  # never parsed as markup


def test_the_corpus_reads_as_escapes():
    assert visible("a\x1b]0;t\x07b") == "a\\x1b]0;t\\x07b"
    assert visible("c\x9bd\x7f\x00") == "c\\x9bd\\x7f\\x00"
    assert visible("\u202eevil") == "\\u202eevil"
    assert visible("one\ntwo\tthree\r") == "one\\ntwo\\tthree\\r"
    assert visible("one\ntwo", multiline=True) == "one\ntwo"
    assert literal("[@click=app.quit]x[/]").plain == "[@click=app.quit]x[/]"
    assert literal("[link=file:///etc/passwd]p[/link]").spans == []


def test_long_values_are_cut_and_say_so():
    out = visible("L" * 10_000, limit=500)
    assert len(out) == 500 and out.endswith("…")


def test_log_lines_cannot_be_forged_or_drive_a_terminal():
    record = logging.LogRecord("gonogo", logging.WARNING, __file__, 1, "alert %s", ("x\n2026 ERROR forged\x1b]0;t\x07",), None)
    MaskSecrets().filter(record)
    assert record.getMessage() == "alert x\\n2026 ERROR forged\\x1b]0;t\\x07"


def test_md_is_inert_for_the_corpus():
    from markdown_it import MarkdownIt

    for t in TEXTS:
        html = MarkdownIt("commonmark").enable("table").render(f"| a |\n|---|\n| {md(t)} |\n")
        assert "<a " not in html and "<img" not in html and "<script" not in html and "<h1" not in html
        assert html.count("<td>") == 1, t


# -- the guard: no widget is handed a formatted str (which Textual parses as markup) ---

RENDERING_CALLS = {"Static", "Label", "add_row", "update_cell", "update", "add_column"}


def _formatted(node: ast.AST) -> bool:
    """An f-string or string concatenation: text built from values, maybe outside ones."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return any(isinstance(n, (ast.JoinedStr, ast.Constant)) and isinstance(getattr(n, "value", ""), str)
                   for n in (node.left, node.right))
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join")


def test_no_widget_gets_a_formatted_string():
    offenders = []
    for path in [*ROOT.glob("widgets/*.py"), *ROOT.glob("console/screens/**/*.py"), ROOT / "console/app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in RENDERING_CALLS and any(_formatted(a) for a in node.args):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"formatted str handed to a widget (wrap it in literal() or Text()): {offenders}"
