"""A health endpoint's answer, judged: is the body of a probe that got its expected
status a healthy one, and if not, the reason, in words fit for a table cell
("invalid body: not JSON (Expecting value at char 0)", "reported status 'degraded'",
"invalid body: not text"). Pure: console.probe reads the body and calls this.
"""
from __future__ import annotations

import codecs
import json

HEALTHY_STATUSES = frozenset({"ok", "healthy", "pass", "passing", "up", "green"})
_VALUE_MAX = 40  # characters of a reported status (or an encoding) echoed back


def judge_body(content_type: str, body: bytes, content_encoding: str = "") -> str | None:
    """None when the body is acceptable, else the reason it is junk.

    JSON content types must parse; a JSON object with a "status" key must report one
    of HEALTHY_STATUSES. Anything else must be text in its declared charset (UTF-8
    when none is declared). An empty body is fine. A body the server compressed
    (`content_encoding`) cannot be judged: nothing is decompressed, the byte cap
    being on what arrives, and none was asked for.
    """
    if not body:
        return None
    encoding = content_encoding.strip().lower()
    if encoding not in ("", "identity"):
        return f"invalid body: compressed ({encoding[:_VALUE_MAX]}) though none was asked for"
    media, charset = _parse_content_type(content_type)
    if media == "application/json" or media.endswith("+json"):
        try:
            doc = json.loads(body)  # detects UTF-8/16/32 itself
        except UnicodeDecodeError:
            return "invalid body: not text"
        except ValueError as e:
            msg = getattr(e, "msg", str(e))
            pos = getattr(e, "pos", None)
            return f"invalid body: not JSON ({msg} at char {pos})" if pos is not None else "invalid body: not JSON"
        if isinstance(doc, dict) and "status" in doc:
            value = doc["status"]
            if isinstance(value, str) and value.strip().lower() in HEALTHY_STATUSES:
                return None
            shown = value if isinstance(value, str) else json.dumps(value)
            shown = " ".join(shown.split())
            if len(shown) > _VALUE_MAX:
                shown = shown[: _VALUE_MAX - 1] + "…"
            return f"reported status '{shown}'"
        return None
    encoding = "utf-8"
    if charset:
        try:
            encoding = codecs.lookup(charset).name
        except LookupError:
            encoding = "utf-8"
    try:
        body.decode(encoding)
    except UnicodeDecodeError:
        return "invalid body: not text"
    return None


def _parse_content_type(value: str) -> tuple[str, str]:
    parts = [p.strip() for p in value.split(";")]
    media = parts[0].lower() if parts else ""
    charset = ""
    for p in parts[1:]:
        k, _, v = p.partition("=")
        if k.strip().lower() == "charset":
            charset = v.strip().strip('"').strip("'")
    return media, charset
