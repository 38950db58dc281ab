"""Reading configured SQL as text, without a database: does it hold a second statement?

Configured SQL (an SQL gate's query, `[alerts] cost_query` and `events_query`) must be
one statement. The server enforces that at run time (the query goes through the
extended query protocol, which refuses a second command); this check refuses it at
load time, so that `select 0; delete from t` is a config error naming the file, the
key and the line instead of a gate that is UNKNOWN all night.

A `;` counts only outside what PostgreSQL's lexer skips: string literals ('...',
with '' inside; E'...' with backslash escapes), quoted identifiers ("..."),
dollar-quoted strings ($$...$$, $tag$...$tag$), line comments (-- ...) and block
comments (/* ... */, which nest). After the first such `;` only whitespace,
comments and further `;` may follow.
"""
from __future__ import annotations

import re

_NEWLINE = re.compile(r"[\r\n]")  # what ends a -- comment, for PostgreSQL's lexer
_TAG = re.compile(r"\$([A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")


def _ident_char(c: str) -> bool:
    return c.isalnum() or c in "_$" or ord(c) >= 0x80


def _skip_quoted(sql: str, i: int, quote: str, backslash: bool) -> int:
    """`i` is just past the opening quote; returns the index just past the closing one
    (len(sql) when it is never closed)."""
    n = len(sql)
    while i < n:
        c = sql[i]
        if backslash and c == "\\":
            i += 2
            continue
        if c == quote:
            if i + 1 < n and sql[i + 1] == quote:  # '' or "" stands for one quote
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _skip_block_comment(sql: str, i: int) -> int:
    """`i` is just past the opening `/*`; block comments nest in PostgreSQL."""
    depth, n = 1, len(sql)
    while i < n and depth:
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def _skip(sql: str, i: int) -> int | None:
    """If a literal, quoted identifier or comment starts at `i`, the index just past
    it; otherwise None."""
    c = sql[i]
    prev = sql[i - 1] if i else " "
    if c == "'":
        escaped = prev in "eE" and (i < 2 or not _ident_char(sql[i - 2]))
        return _skip_quoted(sql, i + 1, "'", backslash=escaped)
    if c == '"':
        return _skip_quoted(sql, i + 1, '"', backslash=False)
    if sql.startswith("--", i):
        m = _NEWLINE.search(sql, i)
        return m.end() if m else len(sql)
    if sql.startswith("/*", i):
        return _skip_block_comment(sql, i + 2)
    if c == "$" and not _ident_char(prev):
        m = _TAG.match(sql, i)
        if m:  # $1 (a parameter) does not match: a tag cannot start with a digit
            end = sql.find(m.group(0), m.end())
            return len(sql) if end < 0 else end + len(m.group(0))
    return None


def second_statement_at(sql: str) -> int | None:
    """Where a second statement starts in `sql` (an index), or None when it holds at
    most one (a trailing `;`, whitespace and comments are fine)."""
    i, n = 0, len(sql)
    ended = False  # a top-level `;` has been seen
    while i < n:
        skipped = _skip(sql, i)
        if skipped is not None:
            comment = sql.startswith("--", i) or sql.startswith("/*", i)
            if ended and not comment:
                return i
            i = skipped
            continue
        c = sql[i]
        if c == ";":
            ended = True
        elif ended and not c.isspace():
            return i
        i += 1
    return None


def one_statement_problem(sql: str) -> str | None:
    """Why `sql` is not a single statement (the message a config error shows), or None."""
    at = second_statement_at(sql)
    if at is None:
        return None
    line = sql.count("\n", 0, at) + 1
    where = f" on line {line} of the query" if "\n" in sql.strip() else ""
    rest = sql[at:].splitlines()[0]
    shown = rest if len(rest) <= 30 else rest[:30] + "..."
    return (
        f"the query holds a second statement after a ';' ({shown!r}{where}); configured SQL runs "
        "exactly one statement: remove the ';' and what follows it"
    )
