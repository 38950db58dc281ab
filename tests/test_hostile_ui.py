"""The hostile corpus through every surface of the console, driven by Pilot against a
real database: alerts in the feed, `k`, `H`, the notice of a change made elsewhere,
the NOT APPLIED path of a failing command actuator, the refusal dialog, and gates
and targets whose names carry markup. The app keeps running, the text is on screen
literally, and the frame Textual would write to the terminal holds no escape
sequence from the data."""
from __future__ import annotations

import sys

import psycopg

from console.app import make_app
from console.screens.dialogs.action import ActionDialog
from console.screens.dialogs.message import MessageDialog
from console.screens.history import HistoryScreen
from widgets.alert_feed import AlertFeed
from widgets.literal import visible
from widgets.rollout_panel import RolloutPanel

from .conftest import make_config, other_console_acts, other_consoles_act, press_then_type, type_keys, until, wait_for
from .hostile import CORPUS, TEXTS, failing_deploy_script, foreign_controls

SIZE = (160, 48)
FLAG = "phase_4_deployment"
STORABLE = [t for t in TEXTS if "\x00" not in t]  # PostgreSQL text cannot hold NUL
MARKUP_OPERATOR = "ops[/][@click=app.quit]"


def frame(app) -> str:
    """The bytes of a full frame of the current screen, as the terminal would get them."""
    return app.screen._compositor.render_full_update().render_segments(app.console)


def frame_text(app) -> str:
    """What the screen reads, line by line."""
    update = app.screen._compositor.render_full_update()
    return "\n".join("".join(strip.text for strip in line) for line in update.strips)


def assert_clean(app, where: str) -> None:
    assert app.is_running, f"the console died at {where}"
    bad = foreign_controls(frame(app))
    assert not bad, f"{where}: the frame carries control characters from the data: {bad}"


def hostile_config(db_url, base, script):
    return make_config(
        db_url, base,
        targets=("aux[/]",),
        gates=[
            {"name": "err[/]rate", "source": "probe", "metric": "error_rate", "window": "5m"},
            {"name": "p95 [@click=app.quit]", "source": "probe", "metric": "p95_latency", "window": "5m",
             "target": "aux[/]"},
            {"name": "checks_passing", "source": "probe", "window": "1m"},
        ],
        console={"refresh": "1s", "operator": MARKUP_OPERATOR},
        auto_rollback={"gates": ["err[/]rate"]},
        actuator={"type": "command", "command": [sys.executable, str(script)], "timeout": "10s", "retries": 0},
    )


def add_alerts(db_url, texts):
    with psycopg.connect(db_url, autocommit=True) as c:
        for i, t in enumerate(texts):
            c.execute("insert into gonogo.alerts (fingerprint, source, severity, name, summary) values (%s, 'events', %s, %s, %s)",
                      (f"ev:{i}", t[:30] if i in (5, 8) else "critical", t, t))


async def test_the_corpus_through_every_surface(db_url, health_server, tmp_path):
    base, _ = health_server
    config = hostile_config(db_url, base, failing_deploy_script(tmp_path, STORABLE))
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.rollout is not None
                       and app.engine is not None, timeout=30, what="first snapshot with rollout")
        # Gates and targets whose names carry markup: drawn, literally.
        names = ("err[/]rate", "p95 [@click=app.quit]", "aux[/]")
        await wait_for(pilot, lambda: "err[/]rate" in frame_text(app), what="gate name on screen")
        await until(pilot, lambda: all(n in frame_text(app) for n in names))  # every row drawn, on a busy machine too
        assert "p95 [@click=app.quit]" in frame_text(app) and "aux[/]" in frame_text(app)
        assert_clean(app, "first frame")

        # The alert feed: every text of the corpus as an alert name and summary.
        add_alerts(db_url, STORABLE)
        app.action_refresh()
        await wait_for(pilot, lambda: len(app.snapshot.alerts) == len(STORABLE), what="corpus in the feed")
        needles = ("close[/]tag", "ring\\x07ring", "bidi \\u202eevil", "[@click=app.qui", "title\\x1b]0;pw")
        await until(pilot, lambda: all(n in frame_text(app) for n in needles))  # the feed drawn
        assert_clean(app, "alert feed")
        text = frame_text(app)
        for needle in needles:
            assert needle in text, f"{needle!r} not shown literally"
        feed = app.screen.query_one(AlertFeed)
        cells = [str(feed.get_row_at(r)[2]) for r in range(feed.row_count)]
        for t in STORABLE:
            assert any(visible(t)[:60] in c for c in cells), f"{t[:40]!r} missing from the feed"

        # `k` acknowledges (a toast carries the alert's name) — for every one of them,
        # each once the screen shows the one before acknowledged.
        acked = lambda: sum(a.acked for a in app.snapshot.alerts)  # noqa: E731
        for n in range(1, len(STORABLE) + 1):
            await pilot.press("k")
            await wait_for(pilot, lambda: acked() >= n, timeout=20, what=f"{n} acked")
        assert all(a.acked for a in app.snapshot.alerts)
        assert_clean(app, "ack toasts")

        # Changes made elsewhere (another process), by operators whose names and reasons are hostile.
        acts = [(t[:60], t, "hold" if label == "bell" else "advance") for label, t in CORPUS
                if "\x00" not in t and label != "long"]
        outcomes = other_consoles_act(db_url, acts)
        assert len(outcomes) == len(acts) and set(outcomes) <= {"done", "refused"}
        elsewhere = lambda: [n for n in app._notifications if n.title == "rollout changed elsewhere"]  # noqa: E731
        await wait_for(pilot, lambda: len(elsewhere()) >= outcomes.count("done"), what="a notice for every change")
        await pilot.pause()
        assert app.snapshot.rollout.version > 2
        assert_clean(app, "changed-elsewhere notices")
        assert any("[@click=app.quit]quit[/]" in n.message for n in app._notifications), "notice not literal"

        # The refusal dialog names the other operator, literally: the rollback dialog is
        # open while another console advances, so the version it saw is refused.
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog), timeout=5, what="the rollback dialog")
        assert other_console_acts(db_url, operator="[link=file:///etc/passwd]x[/link]", reason="\x1b]52;c;AAAA\x07",
                                  action="rollback") == "done"
        await type_keys(pilot, *"my view is old", "enter")
        await type_keys(pilot, *FLAG, "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MessageDialog), what="refusal dialog")
        assert "[link=file:///etc/passwd]x[/link]" in frame_text(app)
        assert_clean(app, "refusal dialog")
        await pilot.press("escape")

        # The NOT APPLIED path: a rollback whose deploy script fails with the corpus on stderr.
        await press_then_type(pilot, "r", *"[/]markup [@click=app.quit]", "enter", *FLAG, "enter")
        panel = app.screen.query_one(RolloutPanel)
        await wait_for(pilot, lambda: "NOT APPLIED" in str(panel.query_one("#state").render()), timeout=20,
                       what="NOT APPLIED on screen")
        await until(pilot, lambda: "close[/]tag" in str(panel.query_one("#state").render()))
        assert "close[/]tag" in str(panel.query_one("#state").render())
        assert_clean(app, "NOT APPLIED")
        assert any("NOT APPLIED" in n.title for n in app._notifications)
        with psycopg.connect(db_url) as c:
            last = c.execute("select operator, reason from gonogo.rollout_events order by id desc limit 1").fetchone()
        assert last == (MARKUP_OPERATOR, "[/]markup [@click=app.quit]")

        # `H`: the audit trail with every hostile reason and operator.
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen)
                       and app.screen.query_one("DataTable").row_count >= 5, what="history rows")
        await until(pilot, lambda: "[/]markup [@click=app.quit]" in frame_text(app))  # the rows drawn
        assert_clean(app, "audit trail")
        assert "[/]markup [@click=app.quit]" in frame_text(app)
        await pilot.press("escape")
        # Still alive, still answering keys.
        await pilot.press("question_mark")
        assert_clean(app, "help")
        await pilot.press("escape")
        assert app.is_running
