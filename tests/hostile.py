"""A corpus of hostile strings: what an attacker (or an unlucky alert) can put in any
text gonogo shows but did not write, and the checks that it stayed data."""
from __future__ import annotations

import re

from widgets.literal import visible

# (label, text). Each must be shown literally and never act.
CORPUS: list[tuple[str, str]] = [
    ("close tag", "close[/]tag"),
    ("unbalanced", "[bold]unbalanced [red]open"),
    ("bad close", "[/bold]never opened[/i]"),
    ("click action", "[@click=app.quit]quit[/]"),
    ("link", "[link=file:///etc/passwd]passwd[/link]"),
    ("osc 0 title", "title\x1b]0;pwned-title\x07after"),
    ("osc 8 link", "\x1b]8;;http://evil.example/\x1b\\evil link\x1b]8;;\x1b\\"),
    ("osc 52 clipboard", "\x1b]52;c;cm0gLXJmIH4=\x07clip"),
    ("csi clear", "\x1b[2J\x1b[Hcleared"),
    ("c1 csi", "c1\x9b2Jcsi"),
    ("bell", "ring\x07ring"),
    ("nul", "nul\x00byte"),
    ("del backspace", "del\x7f\x08back"),
    ("bidi", "bidi \u202eevil\u202c \u2066iso\u2069"),
    ("newline", "first line\nsecond line\rcarriage"),
    ("markdown html", "# heading <script>alert(1)</script> ![img](http://x/y.png) [a](javascript:x) | cell |"),
    ("long", "L" * 10_000),
]

TEXTS = [t for _, t in CORPUS]

# The only escape sequences a Textual frame may hold: SGR (colours) and cursor moves,
# plus the private modes Textual itself toggles. Anything else came from the data.
_OURS = re.compile(r"\x1b\[[0-9;]*[mHABCDGf]|\x1b\[\?[0-9;]*[hl]")
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_FORBIDDEN_PLAIN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def foreign_controls(frame: str, *, terminal: bool = True) -> list[str]:
    """Control characters in `frame` that are not the terminal's own SGR / cursor
    sequences: an OSC, a BEL, a C1 CSI, a clear screen, a NUL, a bidi override.
    `terminal=False`: plain text (CLI output), where anything but a newline is foreign."""
    if not terminal:
        return sorted({repr(m.group(0)) for m in _FORBIDDEN_PLAIN.finditer(frame)})
    rest = _OURS.sub("", frame)
    return sorted({repr(m.group(0)) for m in _FORBIDDEN.finditer(rest)})


def failing_deploy_script(tmp_path, texts):
    """A deploy script that fails, its stderr the given texts on one line (the command
    actuator reports the last line of stderr)."""
    script = tmp_path / "deploy.py"
    payload = " ".join(t for t in texts if len(t) < 200 and len(t.splitlines()) == 1)
    script.write_text(f"import sys\nsys.stderr.write({payload!r})\nsys.exit(3)\n")
    return script


def shown(text: str, limit: int = 40) -> str:
    """A distinctive part of how `text` must read on screen (visible escapes)."""
    return visible(text)[:limit]
