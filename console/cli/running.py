"""The long-running commands: the console (`tui`, the default), the demo, and the
engine with no UI (`watch`)."""
from __future__ import annotations

import asyncio
import signal
import sys

from widgets.literal import visible

from ..config import Config
from .common import EXIT_INTERRUPTED, EXIT_OK, Command, out, store_session

# The demo has its own database; a command in another shell reaches it with --demo.
DEMO_HINT = "gonogo demo: from another shell, add --demo to any command, e.g. `gonogo status --demo`"


def log_to_data_dir(config: Config) -> None:
    """While the full-screen console runs, nothing may write to the terminal: log
    to <data_dir>/gonogo.log instead, with secrets masked."""
    from ..logs import log_to_file

    log_to_file(config.database.data_path / "gonogo.log")


def run_console(config: Config, **kw) -> int:
    from ..app import make_app

    log_to_data_dir(config)
    app = make_app(config, **kw)
    app.run()
    return app.return_code or EXIT_OK


def demo_has_run(config: Config) -> bool:
    from ..demo.run import DEMO_DB
    from ..store.embedded import pgdata_path

    return pgdata_path(config.database.data_path, DEMO_DB).exists()


def _demo(config: Config, args) -> int:
    from ..demo.run import DEMO_DB, prepare_demo

    out("gonogo demo: starting the embedded PostgreSQL and the simulated service…", file=sys.stderr)
    out(DEMO_HINT, file=sys.stderr)
    demo_config, service = prepare_demo(config, port=args.port, reset=args.reset)
    # The console opens the demo's server as its embedded one (no URL), so it is the
    # process that supervises it: killed, it is started again.
    demo_config = demo_config.model_copy(update={"database": demo_config.database.model_copy(update={"url": ""})})
    try:
        return run_console(demo_config, demo=service, embedded_name=DEMO_DB)
    finally:
        service.stop()


def _demo_arguments(p) -> None:
    p.add_argument("--port", type=int, default=None,
                   help="port of the simulated service (default: the config's, or a free one)")
    p.add_argument("--reset", action="store_true", help="forget the demo's history and seed a fresh burn-in week")


def watch_line(snap) -> tuple[tuple, str]:
    """What `watch` prints for a snapshot, and the key that decides whether it is
    new: the verdict, its reasons, who leads and the database's health and reason."""
    key = (snap.verdict, snap.reasons, snap.database.ok, snap.database.reason, snap.leader)
    db = "" if snap.database.ok else f"  [database unavailable: {visible(snap.database.reason)}]"
    role = "leader" if snap.leader else "follower"
    why = "; ".join(visible(r) for r in snap.reasons) or "all gates green"
    return key, f"{snap.at.isoformat(timespec='seconds')} {snap.verdict.value:<8} ({role}) {why}{db}"


async def _watch(config: Config) -> int:
    from ..engine import Engine

    last: tuple | None = None

    def report(snap):
        nonlocal last
        key, line = watch_line(snap)
        if key != last:
            last = key
            out(line)

    stopped_by: list[int] = []
    async with store_session(config) as store:
        engine = Engine(config, store, on_snapshot=report)
        task = asyncio.create_task(engine.run())
        loop = asyncio.get_running_loop()

        def stop(sig: int) -> None:
            stopped_by.append(sig)
            task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop, sig)
        try:
            await task
        except asyncio.CancelledError:
            pass
        finally:
            await engine.aclose()
    # SIGTERM is a service manager's normal stop (0); Ctrl-C is an interruption (130).
    return EXIT_INTERRUPTED if stopped_by[:1] == [signal.SIGINT] else EXIT_OK


COMMANDS = {
    "demo": Command("embedded PostgreSQL + a simulated service + the console", _demo, _demo_arguments),
    "tui": Command("the console (the default command)", lambda config, args: run_console(config)),
    "watch": Command("the engine with no UI: probes, evaluation, alerts",
                     lambda config, args: asyncio.run(_watch(config))),
}
