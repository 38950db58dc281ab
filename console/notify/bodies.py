"""What a webhook is told of an event: one line of our own words around the outside
text (operators, reasons, alert summaries), and the body in the webhook's format.

Outside text goes in as JSON strings, never as markup: masked first (a URL's path,
a registered secret), cut to a length a chat message holds. In the Slack format `&`,
`<` and `>` are escaped as Slack asks, so that a summary cannot mention `<!channel>`,
a user, or make a link; the generic JSON body carries the text as it is.
"""
from __future__ import annotations

import hashlib
from datetime import timezone

from checks.models import NotifyEvent
from checks.times import time_text

from ..secrets import mask_text

TEXT_MAX = 1000  # of one piece of outside text
SLACK_TEXT_MAX = 2900  # a section's mrkdwn text holds 3000


def event_id(event: NotifyEvent) -> str:
    """A short id that is the same for one event wherever and whenever it is sent (a
    receiver may drop a repeat by it)."""
    return hashlib.sha256(event.key.encode()).hexdigest()[:32]


def _outside(text: str) -> str:
    text = mask_text(text or "")
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


def _pct(p: int | None) -> str:
    return "?" if p is None else f"{p} %"


def headline(e: NotifyEvent) -> str:
    """One line for a person: what happened, to what, by whom, why, and when (UTC)."""
    when = time_text(e.at, timezone.utc, date=True)
    reason, who, flag = _outside(e.reason), _outside(e.operator), _outside(e.flag)
    if e.kind == "auto_rollback":
        return f"AUTO-ROLLBACK of {flag}: {_pct(e.from_pct)} → {_pct(e.to_pct)} at {when}: {reason}"
    if e.kind == "rollout_action":
        override = " (OVERRIDE)" if e.override else ""
        return (f"{flag}: {e.action}{override} {_pct(e.from_pct)} → {_pct(e.to_pct)} by {who} at {when}"
                + (f": {reason}" if reason else ""))
    if e.kind == "review_decision":
        return f"Go/no-go review of {flag}: {_outside(e.verdict)} recorded by {who} at {when}: {reason}"
    if e.kind == "actuator_failure":
        return (f"NOT APPLIED: {flag} at {_pct(e.to_pct)} ({e.action or 'change'} by {who}) did not reach the system"
                + (f": {_outside(e.summary)}" if e.summary else ""))
    state = "CRITICAL" if e.kind == "critical_alert_opened" else "RESOLVED"
    return (f"{state} {_outside(e.name)} ({_outside(e.severity)}, {_outside(e.source)}) at {when}"
            + (f": {_outside(e.summary)}" if e.summary else ""))


def slack_escape(text: str) -> str:
    """Slack's three: https://api.slack.com/reference/surfaces/formatting#escaping"""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(e: NotifyEvent) -> dict:
    text = slack_escape(headline(e))
    if len(text) > SLACK_TEXT_MAX:
        text = text[: SLACK_TEXT_MAX - 1] + "…"
    context = slack_escape(f"gonogo · {e.kind} · event {event_id(e)}")
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }


def json_body(e: NotifyEvent) -> dict:
    """The generic body: every field, outside text masked, nothing escaped but by JSON."""
    return {
        "source": "gonogo",
        "id": event_id(e),
        "event": e.kind,
        "flag": e.flag,
        "at": e.at.astimezone(timezone.utc).isoformat(),
        "action": e.action,
        "from": e.from_pct,
        "to": e.to_pct,
        "operator": _outside(e.operator),
        "reason": _outside(e.reason),
        "automatic": e.automatic,
        "override": e.override,
        "verdict": _outside(e.verdict),
        "severity": _outside(e.severity),
        "name": _outside(e.name),
        "summary": _outside(e.summary),
        "alert_source": _outside(e.source),
        "text": headline(e),
    }


def body_for(fmt: str, e: NotifyEvent) -> dict:
    return slack_body(e) if fmt == "slack" else json_body(e)
