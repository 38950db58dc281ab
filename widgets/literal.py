"""The one way text that gonogo did not write reaches a screen, a terminal or a log.

Alert names and summaries, audit reasons, operator names, actuator output, probe and
SQL errors and names from a config file are data. Shown raw, `[/]` crashes a Textual
widget, `[@click=app.quit]` becomes a button, and ESC, BEL or an OSC sequence drive
the operator's terminal (set its title, clear it, write its clipboard). So:

- `visible()` turns every control character (C0, C1, DEL), every bidirectional
  override and every line/paragraph separator into a printable escape (`\\x1b`,
  `\\x07`, `\\u202e`), keeping a newline only where a field may span lines, and cuts
  a runaway value at `limit` characters, saying how much was cut.
- `literal()` wraps that in a `rich.text.Text`, which Rich and Textual never parse
  as markup (a `str` handed to a Static, a DataTable cell or a toast is parsed).

Every surface uses these: widgets, dialogs, toasts, the audit trail, the CLI's text
output and the log file. JSON output is escaped by `json.dumps(ensure_ascii=True)`.
"""
from __future__ import annotations

import re

from rich.text import Text

# Right-to-left / left-to-right embeddings, overrides and isolates (Trojan Source),
# the implicit marks, and the Unicode line and paragraph separators.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_SEPARATORS = "\u2028\u2029"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}{_SEPARATORS}]")
_UNSAFE_KEEP_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_BIDI}{_SEPARATORS}]")

# What a screen cell or a CLI line can reasonably hold; a 10 kB alert summary is cut.
SCREEN_LIMIT = 500


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match) -> str:
    if m.group(0) in _NAMED:
        return _NAMED[m.group(0)]
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def visible(value: object, *, multiline: bool = False, limit: int | None = None) -> str:
    """`value` as text with nothing in it a terminal would act on.

    `multiline`: keep newlines (a dialog body, a report paragraph); otherwise a
    newline is shown as `\\n` and the value stays on its line. `limit`: cut longer
    values to that many characters, the last one `…`."""
    text = "" if value is None else str(value)
    if limit is not None and len(text) > limit:
        text = text[:max(0, limit - 1)] + "…"
    return (_UNSAFE_KEEP_NEWLINE if multiline else _UNSAFE).sub(_escape, text)


def literal(value: object, style: str = "", *, multiline: bool = False, limit: int | None = SCREEN_LIMIT) -> Text:
    """`value` as a Rich Text shown exactly as written: never markup, never a
    terminal control, at most `limit` characters."""
    return Text(visible(value, multiline=multiline, limit=limit), style=style, end="")
