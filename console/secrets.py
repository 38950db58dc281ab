"""Keep passwords out of the screen and the logs.

Masked: the password of a URL (`postgresql://app:hunter2@db/x`), a `password=`,
`token=`, `api_key=`, `secret=` or `sig=` parameter in a URL's query string (a
webhook's credentials), and `password=` in a libpq key=value string
(`host=db password=hunter2`, quoted or not). Everything else is left exactly as
written, so a URL without a password comes back unchanged."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

MASK = "***"
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
# Query parameters that carry a secret: passwords, tokens, API keys, signatures.
_QUERY_PASSWORD = re.compile(
    r"([?&][a-z_.-]*(?:password|passwd|token|secret|api[_-]?key|apikey|access[_-]?key|signature|sig)=)([^&#]*)",
    re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"`]+", re.IGNORECASE)
_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://[^/?#@:]*:)(.*)(@[^@]*)$", re.IGNORECASE | re.DOTALL)


def mask_url(url: str) -> str:
    """`postgresql://app:hunter2@db/x` → `postgresql://app:***@db/x`; a libpq
    `key=value` string gets its password masked too."""
    if not url:
        return url
    if "://" not in url:
        return _KV_PASSWORD.sub(rf"\1{MASK}", url)
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return "<unparseable url>"
    out = url
    if "@" in netloc:
        creds = netloc.rsplit("@", 1)[0]
        if ":" in creds:
            user = creds.split(":", 1)[0]
            scheme_end = url.index("://") + 3
            out = url[:scheme_end] + f"{user}:{MASK}@" + url[scheme_end + len(creds) + 1:]
    elif "@" in url and ":" in netloc and not netloc.rsplit(":", 1)[1].isdigit():
        # A password with an unescaped / ? or # cuts the netloc short
        # (`postgresql://app:pa/ss@db/x`): mask up to the last @.
        m = _USERINFO.match(url)
        if m:
            out = f"{m.group(1)}{MASK}{m.group(3)}"
    if "?" in out:
        out = _QUERY_PASSWORD.sub(rf"\1{MASK}", out)
    return out


def one_line(e: BaseException, limit: int | None = None) -> str:
    """An exception as one masked line for the screen: its first line, or its type."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return mask_text(text)[:limit]


def mask_text(text: str) -> str:
    """Mask every URL and `password=` found inside free text (error messages)."""
    out, pos = [], 0
    for m in _URL_IN_TEXT.finditer(text):
        out.append(_KV_PASSWORD.sub(rf"\1{MASK}", text[pos:m.start()]))
        out.append(mask_url(m.group(0)))
        pos = m.end()
    out.append(_KV_PASSWORD.sub(rf"\1{MASK}", text[pos:]))
    return "".join(out)
