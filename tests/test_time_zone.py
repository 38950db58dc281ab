"""One zone for every time on screen, written with it, and UTC one key away (issue 12,
item 4): driven with the keys, against a real database and a real health endpoint.
Asia/Kolkata (IST, +05:30) makes a time shown in the wrong zone impossible to miss."""
from datetime import datetime, timedelta, timezone

from checks.times import time_text, zone_named
from console.app import make_app
from widgets.alert_feed import AlertFeed
from widgets.burn_in_panel import BurnInPanel
from widgets.rollout_panel import RolloutPanel
from widgets.verdict_banner import VerdictBanner

from .conftest import make_config, other_console_acts, wait_for

IST = zone_named("Asia/Kolkata")
UTC = timezone.utc


def banner(app) -> str:
    return app.screen.query_one(VerdictBanner).render_text().plain


def feed_text(app) -> str:
    feed = app.screen.query_one(AlertFeed)
    return "\n".join(" ".join(getattr(c, "plain", str(c)) for c in feed.get_row_at(i)) for i in range(feed.row_count))


def burn_in(app) -> str:
    return app.screen.query_one(BurnInPanel).render().plain


def rollout(app) -> str:
    return app.screen.query_one(RolloutPanel).query_one("#state").render().plain


def kolkata_config(db_url, base, start: datetime, review: datetime, **sections):
    return make_config(db_url, base, console={"refresh": "1s", "operator": "tester", "timezone": "Asia/Kolkata"},
                       burn_in={"start": start.isoformat(), "days": 7, "review": review.isoformat()}, **sections)


async def test_z_flips_header_feed_burn_in_and_rollout_between_the_configured_zone_and_utc(db_url, health_server):
    base, _ = health_server
    now = datetime.now(UTC).replace(microsecond=0)
    start, review = now + timedelta(days=1, hours=3), now + timedelta(days=9)
    alert_at = now - timedelta(minutes=3)
    app = make_app(kolkata_config(db_url, base, start, review))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.store is not None, what="first snapshot")
        other_console_acts(db_url, "alice", "canary looks fine")  # the rollout panel says since when
        await app.store.raise_alert("am:disk", "alertmanager", "warning", "DiskFull", "node 3", alert_at)
        app.action_refresh()
        await wait_for(pilot, lambda: "DiskFull" in feed_text(app) and "since" in rollout(app), what="alert and rollout")

        def shown(zone) -> dict[str, bool]:
            snap = app.snapshot
            return {
                "header": f"evaluated {time_text(snap.at, zone)}" in banner(app),
                "feed": time_text(alert_at, zone, seconds=False) in feed_text(app),
                "burn-in starts": time_text(start, zone, weekday=True, seconds=False) in burn_in(app),
                "burn-in review": time_text(review, zone, weekday=True, seconds=False) in burn_in(app),
                "rollout": f"since {time_text(snap.rollout.stage_started_at, zone, seconds=False)}" in rollout(app),
            }

        await wait_for(pilot, lambda: all(shown(IST).values()), what="every time in IST")
        assert " UTC" not in banner(app) + feed_text(app) + burn_in(app) + rollout(app)
        assert "IST" in burn_in(app) and "IST" in feed_text(app)

        await pilot.press("z")
        await wait_for(pilot, lambda: all(shown(UTC).values()), what=f"every time in UTC: {shown(UTC)}")
        assert "IST" not in banner(app) + feed_text(app) + burn_in(app) + rollout(app)

        await pilot.press("z")
        await wait_for(pilot, lambda: all(shown(IST).values()), what="back in IST")


async def test_the_audit_trail_and_an_alerts_detail_follow_the_zone(db_url, health_server):
    from console.screens.alert_detail import AlertDetailScreen
    from console.screens.history import HistoryScreen
    from textual.widgets import DataTable

    base, _ = health_server
    now = datetime.now(UTC)
    app = make_app(kolkata_config(db_url, base, now - timedelta(days=1), now + timedelta(days=8)))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.store is not None, what="first snapshot")
        other_console_acts(db_url, "alice", "canary looks fine")
        app.action_refresh()
        await wait_for(pilot, lambda: app.snapshot.rollout is not None and app.snapshot.rollout.version > 0,
                       what="the action seen")
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen)
                       and app.screen.query_one(DataTable).row_count == 1, what="the audit trail")
        cell = lambda: str(app.screen.query_one(DataTable).get_row_at(0)[0])  # noqa: E731
        assert cell().endswith(" IST"), cell()
        await pilot.press("z")
        await wait_for(pilot, lambda: cell().endswith(" UTC"), what="the trail in UTC")
        await pilot.press("escape")

        await app.store.raise_alert("am:cert", "alertmanager", "warning", "CertExpiry", "in 9 days")
        app.action_refresh()
        await wait_for(pilot, lambda: any(a.name == "CertExpiry" for a in app.snapshot.alerts), what="the alert")
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertDetailScreen)
                       and "first seen" in app.screen.query_one("#alert-detail-more").render().plain, what="detail")
        more = lambda: app.screen.query_one("#alert-detail-more").render().plain  # noqa: E731
        assert "UTC" in more() and "IST" not in more()
        await pilot.press("z")
        await wait_for(pilot, lambda: "IST" in more() and "UTC" not in more(), what="the detail in IST")


async def test_the_feed_never_scrolls_sideways_and_cuts_a_long_summary(db_url, health_server):
    base, _ = health_server
    now = datetime.now(UTC)
    long = "the disk of node 3 is full and " * 20
    for size in ((80, 24), (160, 48)):
        app = make_app(kolkata_config(db_url, base, now - timedelta(days=1), now + timedelta(days=8)))
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None and app.store is not None, what="first snapshot")
            for i in range(12):  # more rows than the panel holds: the vertical scrollbar comes too
                await app.store.raise_alert(f"am:{i}", "alertmanager", "critical", f"DiskFull{i}", long)
            app.action_refresh()
            feed = app.screen.query_one(AlertFeed)
            await wait_for(pilot, lambda: feed.shown_count == 12, what="alerts shown")
            await pilot.pause()
            assert not feed.show_horizontal_scrollbar, size
            # The columns fit the panel: nothing lies beyond its right edge.
            assert feed.virtual_size.width <= feed.scrollable_content_region.width, (size, feed.virtual_size)
            assert "DiskFull" in feed_text(app) and "IST" in feed_text(app)
            assert "critical" in feed_text(app)  # the severity stays, in its column or leading the text


async def test_the_reviews_evidence_rows_are_written_in_the_zone_and_follow_z(db_url, health_server):
    """A time in a gate's evidence query (`v`, Enter) is a time like any other: in the
    console's zone with the zone written, and in UTC on `z`. A `timestamp` without a
    zone is taken as UTC, as everywhere in the console."""
    from console.screens.review import ReviewScreen

    base, _ = health_server
    opened = datetime(2026, 11, 25, 3, 12, 9, tzinfo=UTC)
    noted = datetime(2026, 11, 25, 21, 40, 0, tzinfo=UTC)  # 03:10 the next day in IST
    gates = [{"name": "error_rate", "source": "probe", "window": "5m"},
             {"name": "p95_latency", "source": "probe", "window": "5m"},
             {"name": "p1_incidents", "source": "sql", "interval": "1s", "query": "select 0", "green": "<= 0",
              "red": ">= 1", "evidence": "select timestamptz '2026-11-25 03:12:09+00' as opened_at,"
                                         " timestamp '2026-11-25 21:40:00' as noted_at, 'db failover' as title"}]
    app = make_app(make_config(db_url, base, console={"refresh": "1s", "operator": "tester", "timezone": "Asia/Kolkata"},
                               gates=gates, review={"criteria": ["p1_incidents"]}))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.gates, what="first snapshot")
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), what="the review")
        screen = app.screen
        await pilot.press("enter")
        body = lambda: screen.query_one("#review-evidence-body").render().plain  # noqa: E731
        row = lambda zone: (f"{time_text(opened, zone, date=True)} | {time_text(noted, zone, date=True)}"  # noqa: E731
                            " | db failover")
        await wait_for(pilot, lambda: row(IST) in body(), what=f"the row in IST: {body()}")
        assert row(IST).startswith("2026-11-25 08:42:09 IST | 2026-11-26 03:10:00 IST") and " UTC" not in body()
        await pilot.press("z")
        await wait_for(pilot, lambda: row(UTC) in body(), what=f"the row in UTC: {body()}")
        assert "IST" not in body()
