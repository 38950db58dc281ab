"""Keep credentials out of the screen, the logs, the reports and every message.

A URL is shown as its scheme, host and port only: `https://hooks.example:8443/***`.
Its userinfo (user and password), path, query and fragment are never shown, whatever
their names, because any of them can carry a credential (a webhook's path is often
its token). A URL with nothing after the host but `/` is shown as written, less its
userinfo. In a libpq `key=value` string (`host=db password=hunter2`) the password is
masked. And every value registered with `register_secret` (header values, values
taken from the environment by the config) is masked wherever it appears.

One URL shape is ambiguous: an unescaped `/`, `?` or `#` in a password
(`postgresql://app:pa/ss@db/x`). When what comes before the first `/` is not a
host[:port] and an `@` follows, the host shown is the one after the last `@`. (A
password of digits followed by a `/` reads as a port; such a URL is invalid for
every client, and only its first digits could show.)
"""
from __future__ import annotations

import re
import threading

MASK = "***"
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"`]+", re.IGNORECASE)
# A host as a URL writes it (a name, an IPv4 address or a bracketed IPv6 one) and an
# optional port; anything else in that place is not shown.
_HOST_PORT = re.compile(r"^(?:\[[0-9a-f:.]+\]|[a-z0-9._~%!$&'()*+,;=-]*)(?::\d{0,5})?$", re.IGNORECASE)
# Punctuation that ends a sentence rather than a URL found in free text.
_TRAILING = ".,;:!?)]}>"

# Secrets shorter than this are masked only as whole tokens (not inside a longer
# word), so that a short value does not garble every message it happens to be in.
_ANYWHERE = 8
_secrets: set[str] = set()
_secrets_re: re.Pattern[str] | None = None
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Mask `value` in everything `mask_text` / `mask_url` shows from now on."""
    global _secrets_re
    if not isinstance(value, str) or not value.strip():
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        _secrets_re = _compile(_secrets)


def forget_secrets() -> None:
    """Drop every registered secret (for tests, which load many configs)."""
    global _secrets_re
    with _lock:
        _secrets.clear()
        _secrets_re = None


def _compile(values: set[str]) -> re.Pattern[str]:
    parts = []
    for v in sorted(values, key=len, reverse=True):  # longest first: "ab" never eats "abc"
        e = re.escape(v)
        parts.append(e if len(v) >= _ANYWHERE else rf"(?<![A-Za-z0-9]){e}(?![A-Za-z0-9])")
    return re.compile("|".join(parts))


def _mask_registered(text: str) -> str:
    pattern = _secrets_re  # one read: another thread may register meanwhile
    return pattern.sub(MASK, text) if pattern is not None and text else text


def mask_url(url: str) -> str:
    """`https://bot:t0k@hooks.example:8443/T01/B02?sig=x` → `https://hooks.example:8443/***`;
    a libpq `key=value` string gets its password masked."""
    if not url:
        return url
    m = _SCHEME.match(url)
    if not m:
        return _mask_registered(_KV_PASSWORD.sub(rf"\1{MASK}", url))
    host, tail = _host_and_tail(url[m.end():])
    if host is None:
        return f"{m.group(1)}://{MASK}"
    shown = f"{m.group(1)}://{host}" + (tail if tail in ("", "/") else f"/{MASK}")
    return _mask_registered(shown)


def _host_and_tail(rest: str) -> tuple[str | None, str]:
    """Split what follows `scheme://` into the host[:port] to show and the rest
    (path, query, fragment); the host is None when none can be shown safely."""
    authority, tail = _split_authority(rest)
    host = authority.rpartition("@")[2]
    if "@" not in authority and "@" in tail and not _HOST_PORT.match(host):
        # `app:pa/ss@db/x`: a password with an unescaped / ? or #; the host is
        # after the last @, and everything before it is userinfo.
        host, _ = _split_authority(tail.rpartition("@")[2])
        tail = "/" + MASK
    return (host if _HOST_PORT.match(host) else None), tail


def _split_authority(rest: str) -> tuple[str, str]:
    ends = [i for i in (rest.find(c) for c in "/?#") if i >= 0]
    end = min(ends) if ends else len(rest)
    return rest[:end], rest[end:]


def one_line(e: BaseException, limit: int | None = None) -> str:
    """An exception as one masked line for the screen: its first line, or its type."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return mask_text(text)[:limit]


# gonogo's own example in its hints ("write it like url = ..."): public text, shown whole,
# or the hint would tell the user to write `http://127.0.0.1:8080/***`.
EXAMPLE_URL = "http://127.0.0.1:8080/health"


def mask_text(text: str) -> str:
    """Mask every registered secret, every URL and every `password=` in free text
    (error messages, alert summaries, log lines)."""
    text = _mask_registered(text)
    out, pos = [], 0
    for m in _URL_IN_TEXT.finditer(text):
        url = m.group(0)
        trail = len(url) - len(url.rstrip(_TRAILING))
        url = url[: len(url) - trail]
        out.append(_KV_PASSWORD.sub(rf"\1{MASK}", text[pos:m.start()]))
        out.append(mask_url(url) if "://" in url and url.split("://", 1)[1] and url != EXAMPLE_URL else url)
        pos = m.end() - trail
    out.append(_KV_PASSWORD.sub(rf"\1{MASK}", text[pos:]))
    return "".join(out)
