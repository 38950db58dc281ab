"""Keep passwords out of the screen and the logs."""
from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"]+", re.IGNORECASE)


def mask_url(url: str) -> str:
    """`postgresql://app:hunter2@db/x` → `postgresql://app:***@db/x`; a libpq
    `key=value` string gets its password masked too."""
    if not url:
        return url
    if "://" not in url:
        return _KV_PASSWORD.sub(r"\1***", url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.netloc
    if "@" in netloc:
        creds, host = netloc.rsplit("@", 1)
        if ":" in creds:
            user = creds.split(":", 1)[0]
            netloc = f"{user}:***@{host}"
    query = _KV_PASSWORD.sub(r"\1***", parts.query.replace("&", " ")).replace(" ", "&") if "password" in parts.query.lower() else parts.query
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def mask_text(text: str) -> str:
    """Mask every URL and `password=` found inside free text (error messages)."""
    text = _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)
    return _KV_PASSWORD.sub(r"\1***", text)
