"""Where each table and key of a TOML text is written: a line scanner for error messages (tomllib gives no positions)."""
from __future__ import annotations

import re




_BARE = r"""[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*'"""
_KEYPATH = rf"(?:{_BARE})(?:\s*\.\s*(?:{_BARE}))*"
_HEADER_RE = re.compile(rf"^\s*(\[\[|\[)\s*({_KEYPATH})\s*\]\]?\s*(?:#.*)?$")
_KEY_RE = re.compile(rf"^\s*({_KEYPATH})\s*=")


def _split_keypath(s: str) -> tuple[str, ...]:
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in re.findall(_BARE, s))


def line_index(text: str) -> dict[tuple, int]:
    """Where each table and key of a TOML text is written: ("targets", 1, "url") → 31.

    A line scanner, not a parser: it follows [table] and [[array]] headers, dotted
    keys and multi-line strings, which is all a config file uses. A key inside an
    inline table or a multi-line array maps to the line of its enclosing key."""
    index: dict[tuple, int] = {}
    counts: dict[tuple, int] = {}
    table: tuple = ()
    in_string: str | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if in_string:
            if in_string in line:
                in_string = None
            continue
        m = _HEADER_RE.match(line)
        if m:
            path = _split_keypath(m.group(2))
            if m.group(1) == "[[":
                counts[path] = counts.get(path, -1) + 1
                table = path + (counts[path],)
            else:
                table = path
            index.setdefault(table, n)
            continue
        m = _KEY_RE.match(line)
        if m:
            index.setdefault(table + _split_keypath(m.group(1)), n)
            rest = line[m.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_string = quote
                    break
    return index


def line_for(loc: tuple, text: str) -> int | None:
    """The line of the key at `loc`, or of the nearest enclosing key or table."""
    if not text:
        return None
    index = line_index(text)
    for k in range(len(loc), 0, -1):
        if loc[:k] in index:
            return index[loc[:k]]
    return None
