"""`fetch_alerts` against a real Alertmanager (Debian's 0.25 binary, run alone with
clustering off), and its faults."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from console.sources import SourceError
from console.sources.alertmanager import fetch_alerts
from tests.promfixtures import PASSWORD, alertmanager, client, silent_listener, sync_client  # noqa: F401  (fixtures)


def rfc3339(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def post_alerts(base_url: str, alerts: list[dict]) -> None:
    with sync_client() as raw:
        r = raw.post(base_url + "/api/v2/alerts", json=alerts)
        assert r.status_code == 200, r.text


async def wait_for_names(client, base_url: str, names: set[str], timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        alerts = await fetch_alerts(client, base_url, 5)
        if {a.name for a in alerts} == names or time.monotonic() > deadline:
            return alerts
        await asyncio.sleep(0.1)


NOW = datetime.now(timezone.utc).replace(microsecond=0)
DISK_AT = NOW - timedelta(minutes=10)
LATENCY_AT = NOW - timedelta(minutes=3)


def two_alerts() -> list[dict]:
    return [
        {
            "labels": {"alertname": "DiskFull", "severity": "critical", "instance": "node-3"},
            "annotations": {"summary": "node-3 disk is 97% full", "description": "longer text"},
            "startsAt": rfc3339(DISK_AT),
            "generatorURL": "http://prometheus.test/graph",
        },
        {
            "labels": {"alertname": "CanaryLatencyHigh", "severity": "P2", "service": "api"},
            "annotations": {"description": "P95 above 500 ms for 5 minutes"},
            "startsAt": rfc3339(LATENCY_AT),
        },
    ]


@pytest.mark.prometheus
async def test_posted_alerts_are_fetched_and_mapped(client, alertmanager):
    post_alerts(alertmanager.url, two_alerts())
    alerts = await wait_for_names(client, alertmanager.url, {"DiskFull", "CanaryLatencyHigh"})
    assert [a.name for a in alerts] == ["CanaryLatencyHigh", "DiskFull"]  # newest first
    latency, disk = alerts

    assert disk.source == "alertmanager"
    assert disk.severity == "critical"
    assert disk.summary == "node-3 disk is 97% full"
    assert disk.at == DISK_AT and disk.at.tzinfo is not None
    assert not disk.acked

    assert latency.severity == "P2"
    assert latency.summary == "P95 above 500 ms for 5 minutes"  # description when no summary
    assert latency.at == LATENCY_AT

    with sync_client() as raw:
        listed = raw.get(alertmanager.url + "/api/v2/alerts").json()
    by_name = {a["labels"]["alertname"]: a["fingerprint"] for a in listed}
    assert disk.fingerprint == "am:" + by_name["DiskFull"]
    assert latency.fingerprint == "am:" + by_name["CanaryLatencyHigh"]

    # Same alerts, same fingerprints on the next poll (the store upserts by them).
    again = await fetch_alerts(client, alertmanager.url, 5)
    assert {a.fingerprint for a in again} == {a.fingerprint for a in alerts}


@pytest.mark.prometheus
async def test_silenced_and_resolved_alerts_are_left_out(client, alertmanager):
    with sync_client() as raw:
        r = raw.post(
            alertmanager.url + "/api/v2/silences",
            json={
                "matchers": [{"name": "alertname", "value": "Maintenance", "isRegex": False, "isEqual": True}],
                "startsAt": rfc3339(NOW - timedelta(minutes=1)),
                "endsAt": rfc3339(NOW + timedelta(hours=1)),
                "createdBy": "gonogo-tests",
                "comment": "planned maintenance",
            },
        )
        assert r.status_code == 200, r.text
    post_alerts(
        alertmanager.url,
        two_alerts()
        + [
            {"labels": {"alertname": "Maintenance", "severity": "warning"}, "startsAt": rfc3339(NOW)},
            {
                "labels": {"alertname": "AlreadyResolved", "severity": "critical"},
                "startsAt": rfc3339(NOW - timedelta(hours=1)),
                "endsAt": rfc3339(NOW - timedelta(minutes=30)),
            },
        ],
    )
    alerts = await wait_for_names(client, alertmanager.url, {"DiskFull", "CanaryLatencyHigh"})
    assert {a.name for a in alerts} == {"DiskFull", "CanaryLatencyHigh"}

    # The silenced alert did reach Alertmanager: only the filter keeps it out.
    with sync_client() as raw:
        suppressed = raw.get(alertmanager.url + "/api/v2/alerts", params={"silenced": "true", "active": "false"}).json()
    assert "Maintenance" in {a["labels"]["alertname"] for a in suppressed}


@pytest.mark.prometheus
async def test_no_alerts_is_an_empty_list(client, alertmanager):
    assert await fetch_alerts(client, alertmanager.url + "/", 5) == []


@pytest.mark.prometheus
async def test_stopped_alertmanager_is_connection_refused(client, alertmanager):
    url = alertmanager.url
    assert await fetch_alerts(client, url, 5) == []
    alertmanager.stop()
    for base in (url, url.replace("http://", f"http://oncall:{PASSWORD}@")):
        with pytest.raises(SourceError) as e:
            await fetch_alerts(client, base, 5)
        assert str(e.value) == "connection refused"


async def test_alertmanager_that_never_answers_times_out(client, silent_listener):
    started = time.monotonic()
    with pytest.raises(SourceError) as e:
        await fetch_alerts(client, silent_listener.url, 0.5)
    assert str(e.value) == "timeout after 500ms"
    assert time.monotonic() - started < 1.5


async def _fetch(handler, base_url="http://am.test:9093"):
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), trust_env=False) as c:
        return await fetch_alerts(c, base_url, 5)


async def test_request_asks_for_active_unsilenced_uninhibited_alerts():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json=[])

    assert await _fetch(handler) == []
    (req,) = seen
    assert req.url.path == "/api/v2/alerts"
    assert dict(req.url.params) == {"active": "true", "silenced": "false", "inhibited": "false"}


async def test_http_500():
    with pytest.raises(SourceError) as e:
        await _fetch(lambda r: httpx.Response(500, text="internal"))
    assert str(e.value) == "HTTP 500"


async def test_junk_and_malformed_answers_are_invalid_responses():
    with pytest.raises(SourceError, match="^invalid response: not JSON"):
        await _fetch(lambda r: httpx.Response(200, text="not json"))
    with pytest.raises(SourceError, match="^invalid response: expected a list"):
        await _fetch(lambda r: httpx.Response(200, json={"alerts": []}))
    bad_time = [{"labels": {"alertname": "X"}, "startsAt": "yesterday", "fingerprint": "ab"}]
    with pytest.raises(SourceError, match="^invalid response: startsAt"):
        await _fetch(lambda r: httpx.Response(200, json=bad_time))


# -- labels: stored, shown, bounded -----------------------------------------------

MARKUP = "[bold red]not markup[/] [@click=app.quit]x[/]"
ESCAPE = "\x1b]0;pwned\x07\x1b[2J"


def hostile_alert() -> dict:
    """506 labels: a few real ones, markup, terminal escapes, a 10 kB value, and 500 more."""
    labels = {"alertname": "DiskFull", "severity": "critical", "instance": "node-3",
              "a_markup": MARKUP, "a_escape": ESCAPE, "a_big": "x" * 10_000}
    labels.update({f"l{i:03d}": f"v{i}" for i in range(500)})
    return {"labels": labels, "annotations": {"summary": "node-3 disk is 97% full"}, "startsAt": rfc3339(DISK_AT)}


@pytest.mark.prometheus
async def test_labels_come_bounded_from_a_real_alertmanager(client, alertmanager):
    from checks.alertmanager import MAX_LABEL_VALUE, MAX_LABELS

    post_alerts(alertmanager.url, [hostile_alert()])
    (alert,) = await wait_for_names(client, alertmanager.url, {"DiskFull"})
    assert len(alert.labels) == MAX_LABELS and alert.labels_left_out == 506 - MAX_LABELS
    assert list(alert.labels)[:4] == ["a_big", "a_escape", "a_markup", "alertname"]  # the first by name
    assert alert.labels["a_markup"] == MARKUP and alert.labels["a_escape"] == ESCAPE  # kept as data, as written
    assert len(alert.labels["a_big"]) == MAX_LABEL_VALUE and alert.labels["a_big"].endswith("…")


def test_hostile_label_names_are_cut_and_counted():
    """Names Alertmanager itself would refuse still come through another proxy or
    version: cut like values, never dropped silently."""
    from checks.alertmanager import MAX_LABEL_NAME, parse_alerts

    long_a, long_b = "k" * 300 + "a", "k" * 300 + "b"  # the same once cut: one kept, one counted out
    item = {"labels": {"alertname": "X", "[b]k[/b]": "v", long_a: "1", long_b: "2"}, "startsAt": rfc3339(NOW),
            "fingerprint": "ab"}
    (a,) = parse_alerts([item])
    cut = "k" * (MAX_LABEL_NAME - 1) + "…"
    assert a.labels == {"[b]k[/b]": "v", "alertname": "X", cut: "1"} and a.labels_left_out == 1


@pytest.mark.prometheus
async def test_enter_on_an_alertmanager_alert_shows_its_labels_literally_and_bounded(db_url, health_server, alertmanager):
    """From a real Alertmanager through the engine and the store to the detail screen."""
    from console.app import make_app
    from console.screens.alert_detail import AlertDetailScreen
    from widgets.alert_feed import AlertFeed

    from .conftest import make_config, wait_for

    base, _ = health_server
    post_alerts(alertmanager.url, [hostile_alert()])
    config = make_config(db_url, base, alertmanager={"url": alertmanager.url, "interval": "1s"})
    app = make_app(config)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and any(a.name == "DiskFull" for a in app.snapshot.alerts),
                       what="the alert in the feed")
        await wait_for(pilot, lambda: app.screen.query_one(AlertFeed).shown_count == 1, what="the feed shows it")
        await pilot.press("tab", "enter")
        assert isinstance(app.screen, AlertDetailScreen)
        more = lambda: app.screen.query_one("#alert-detail-more").render().plain  # noqa: E731
        await wait_for(pilot, lambda: "labels" in more(), what="the labels read")
        text = more()
        lines = text.splitlines()
        shown = [ln.strip() for ln in lines[lines.index("labels") + 1:] if ln.strip()]
        assert shown[0].startswith("a_big=xxxx") and shown[0].endswith("…") and len(shown[0]) < 1100
        assert shown[1] == "a_escape=\\x1b]0;pwned\\x07\\x1b[2J"  # escapes made visible, never sent
        assert shown[2] == f"a_markup={MARKUP}"  # markup shown as written
        assert shown[3:6] == ["alertname=DiskFull", "instance=node-3", "l000=v0"]
        assert shown[-1] == "… 456 more labels, not kept"
        assert len(shown) == 51
        assert "\x1b" not in text
