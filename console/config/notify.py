"""`[[notify]]`: the webhooks the leader tells of rollout events (console/engine/notify_loop.py).

Each webhook has a unique `name` (how the feed names it when it fails: its URL is
never shown, a webhook's path or query is often its token), a `url`, a `format`
("slack": Slack-compatible `{"text": ..., "blocks": ...}`; "json": a generic body),
the `events` it wants (default: all of them), optional `headers` (values are
secrets), a `timeout` for one POST, and how many `attempts` before it gives up on
one event.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator, model_validator

from .values import Headers, HttpUrl, KeyProblem, Name, Section, Timeout

NotifyEvent = Literal[
    "auto_rollback", "actuator_failure", "critical_alert_opened", "critical_alert_resolved", "review_decision",
    "rollout_action",
]
NOTIFY_EVENTS: tuple[str, ...] = get_args(NotifyEvent)


class NotifySection(Section):
    name: Name
    url: HttpUrl
    format: Literal["slack", "json"] = "slack"
    events: list[NotifyEvent] = Field(default_factory=lambda: list(NOTIFY_EVENTS))
    headers: Headers = Field(default_factory=dict)  # sent with every POST; values are secret
    timeout: Timeout = timedelta(seconds=5)
    # One event is tried this many times (backoff doubling from 1 s, at most 5 min
    # apart, with jitter), then kept in the outbox with its last error.
    attempts: int = Field(default=8, ge=1, le=100)

    @field_validator("events")
    @classmethod
    def _some(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError(f"give at least one event (leave events out for all: {', '.join(NOTIFY_EVENTS)})")
        return v

    @model_validator(mode="after")
    def _url_given(self) -> "NotifySection":
        if not self.url:
            raise KeyProblem(("url",), 'a webhook needs a URL, like url = "https://hooks.slack.com/services/${SLACK_HOOK}"')
        return self

    def wants(self, kind: str) -> bool:
        """An auto-rollback is a rollout action too: a webhook that asks for every
        action gets it (once: its outbox key is the audit row's)."""
        return kind in self.events or (kind == "auto_rollback" and "rollout_action" in self.events)

    @property
    def alert_fingerprint(self) -> str:
        """The feed's alert while this webhook fails (source "notify")."""
        return f"notify:{self.name}"


def _unique_names(v: list[NotifySection]) -> list[NotifySection]:
    seen: dict[str, int] = {}
    for i, n in enumerate(v):
        if n.name in seen:
            raise KeyProblem((i, "name"), f"{n.name!r} is already the name of [[notify]] #{seen[n.name] + 1}; "
                                          "names must be unique")
        seen[n.name] = i
    return v


Notify = Annotated[list[NotifySection], AfterValidator(_unique_names)]


def notify_secrets(webhooks: list[NotifySection]) -> list[str]:
    """What must never be shown: header values, and a URL's path and query (a
    Slack webhook's token is its path), so that an error quoting only the path is
    masked too."""
    out: list[str] = []
    for w in webhooks:
        out.extend(w.headers.values())
        parts = urlsplit(w.url)
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        if tail not in ("", "/"):
            out += [w.url, tail]
            if parts.query:
                out.append(parts.query)
    return out
