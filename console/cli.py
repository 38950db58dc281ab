"""The command line. Every command takes --config and honours GONOGO_DATABASE_URL;
bad usage and bad config exit 2 with one message, never a traceback."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import signal
import sys
from importlib import resources
from pathlib import Path

from checks.models import ROLLOUT_ACTIONS, RolloutAction
from widgets.literal import visible

from . import __version__
from .config import Config, ConfigError, load_config
from .secrets import mask_text

EXIT_OK, EXIT_NOT_GO, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3
EXIT_BUG = 1  # a bug is not "data unavailable": only a database that cannot be reached is 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


def _out(text: object = "", *, file=None) -> None:
    """The CLI's one writer of text: whatever a value carries (an alert, a reason,
    an actuator's stderr), the terminal sees no control character but newline.
    Single-line fields are also passed through visible() where they are formatted."""
    print(visible(text, multiline=True), file=file or sys.stdout, flush=True)


class UsageError(Exception):
    pass


ACTION_HELP: dict[RolloutAction, str] = {
    "advance": "move one step up (needs GO and the soak done, or --override)",
    "hold": "pause the soak clock",
    "resume": "restart the soak clock",
    "rollback": "return to 0 %% at once (always allowed)",
}


# The demo has its own database; a command in another shell reaches it with --demo.
DEMO_HINT = "gonogo demo: from another shell, add --demo to any command, e.g. `gonogo status --demo`"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # exit 2 with one line, as argparse does, but via our path
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand that is not given --config must not overwrite the global one.
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="config file (default: ./config.toml, then the XDG config dir)")
    common.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                        help="act on the running demo (its database, burn-in and service), from another shell")
    p = _Parser(prog="gonogo", description="A terminal console for go/no-go decisions on progressive rollouts.",
                parents=[common])
    p.add_argument("--version", action="version", version=f"gonogo {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    d = sub.add_parser("demo", parents=[common], help="embedded PostgreSQL + a simulated service + the console")
    d.add_argument("--port", type=int, default=None, help="port of the simulated service (default: the config's, or a free one)")
    d.add_argument("--reset", action="store_true", help="forget the demo's history and seed a fresh burn-in week")
    sub.add_parser("tui", parents=[common], help="the console (the default command)")
    sub.add_parser("watch", parents=[common], help="the engine with no UI: probes, evaluation, alerts")
    c = sub.add_parser("check", parents=[common], help="one evaluation; exit 0 GO, 1 not GO, 2 bad usage/config, 3 data unavailable")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s = sub.add_parser("status", parents=[common], help="rollout state and history")
    s.add_argument("--json", action="store_true", help="print JSON instead of text")
    for action in ROLLOUT_ACTIONS:
        a = sub.add_parser(action, parents=[common], help=ACTION_HELP[action])
        a.add_argument("--reason", required=True, help="why (recorded in the audit trail)")
        a.add_argument("--expect", type=int, metavar="PCT", help="refuse unless the rollout is at PCT now")
        if action == "advance":
            a.add_argument("--override", action="store_true",
                           help="let a non-GO verdict or an unfinished soak through (recorded as an override)")
        a.add_argument("--json", action="store_true", help="print the result as JSON")
    sub.add_parser("retry", parents=[common], help="re-apply the current percentage through the actuator (idempotent)")
    au = sub.add_parser("audit", parents=[common], help="the audit trail")
    au_sub = au.add_subparsers(dest="audit_command", parser_class=_Parser, required=True)
    au_sub.add_parser("verify", parents=[common], help="check signatures, chain, signed head and replay; exit 0 intact, 1 broken (names each bad event),"
                           " 4 not fully verifiable (no key)")
    rp = sub.add_parser("report", parents=[common], help="the go/no-go report in Markdown")
    rp.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    for sp in [*sub.choices.values(), *au_sub.choices.values()]:
        sp.add_argument("--version", action="version", version=f"gonogo {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    from .logs import safe_handler

    logging.basicConfig(level=logging.WARNING, format="%(message)s",
                        handlers=[safe_handler(logging.StreamHandler(sys.stderr))])
    try:
        args = build_parser().parse_args(argv)
    except UsageError as e:
        _out(str(e), file=sys.stderr)
        _out("try `gonogo --help`", file=sys.stderr)
        return EXIT_USAGE
    command = args.command or "tui"
    if getattr(args, "reason", None) is not None and not args.reason.strip():
        _out("gonogo: --reason must say why (it is recorded in the audit trail); it is empty", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = _load(args, demo=(command == "demo"))
    except ConfigError as e:
        _out(f"gonogo: bad config: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if getattr(args, "demo", False) and command != "demo":
            config = _attach_demo(config)
        return COMMANDS[command](config, args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED  # neither "GO" nor "done"
    except DatabaseUnavailable as e:
        _out(f"gonogo: database unavailable: {mask_text(str(e))}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except Exception as e:  # a bug: one line here, the traceback in the log, and exit 1 (not "data unavailable")
        where = _log_bug(config, command)
        _out(f"gonogo: internal error in `{command}`: {mask_text(str(e)) or type(e).__name__}"
             f" (a bug; the traceback is in {where})", file=sys.stderr)
        return EXIT_BUG


def _log_bug(config: Config, command: str) -> str:
    """Write the traceback of the exception being handled to <data_dir>/gonogo.log
    (secrets masked); returns where it went."""
    from .logs import log_to_file

    path = config.database.data_path / "gonogo.log"
    log_to_file(path)
    logging.getLogger("gonogo.cli").exception("`gonogo %s` failed", command)
    return str(path)


def _load(args, *, demo: bool) -> Config:
    if getattr(args, "config", None):
        return load_config(args.config)
    try:
        return load_config(None)
    except ConfigError:
        if not demo:
            raise
    # The demo runs anywhere: fall back to the packaged copy of the repository's config.toml.
    text = resources.files("console").joinpath("default_config.toml").read_text()
    import tomllib

    from .config import parse_config

    return parse_config(tomllib.loads(text), path="(built-in demo config)", text=text)


def _log_to_file(config: Config) -> None:
    """While the full-screen console runs, nothing may write to the terminal: log
    to <data_dir>/gonogo.log instead, with secrets masked."""
    from .logs import log_to_file

    log_to_file(config.database.data_path / "gonogo.log")


def _tui(config: Config, **kw) -> int:
    from .app import make_app

    _log_to_file(config)
    app = make_app(config, **kw)
    app.run()
    return app.return_code or EXIT_OK


def _attach_demo(config: Config) -> Config:
    import psycopg

    from .demo.run import NoDemoHere, attach_demo
    from .store.embedded import EmbeddedError

    try:
        return attach_demo(config)
    except (NoDemoHere, EmbeddedError, psycopg.Error) as e:
        raise DatabaseUnavailable(str(e)) from e


def _demo_has_run(config: Config) -> bool:
    from .demo.run import DEMO_DB
    from .store.embedded import pgdata_path

    return pgdata_path(config.database.data_path, DEMO_DB).exists()


def _demo(config: Config, args) -> int:
    from .demo.run import DEMO_DB, prepare_demo

    _out("gonogo demo: starting the embedded PostgreSQL and the simulated service…", file=sys.stderr)
    _out(DEMO_HINT, file=sys.stderr)
    demo_config, service = prepare_demo(config, port=args.port, reset=args.reset)
    # The console opens the demo's server as its embedded one (no URL), so it is the
    # process that supervises it: killed, it is started again.
    demo_config = demo_config.model_copy(update={"database": demo_config.database.model_copy(update={"url": ""})})
    try:
        return _tui(demo_config, demo=service, embedded_name=DEMO_DB)
    finally:
        service.stop()


async def _watch(config: Config) -> int:
    from .engine import Engine

    last: tuple | None = None

    def report(snap):
        nonlocal last
        key = (snap.verdict, snap.reasons, snap.database.ok, snap.leader)
        if key != last:
            last = key
            db = "" if snap.database.ok else f"  [database unavailable: {visible(snap.database.reason)}]"
            role = "leader" if snap.leader else "follower"
            why = "; ".join(visible(r) for r in snap.reasons) or "all gates green"
            _out(f"{snap.at.isoformat(timespec='seconds')} {snap.verdict.value:<8} ({role}) {why}{db}")

    stopped_by: list[int] = []
    async with _store(config) as store:
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


class DatabaseUnavailable(Exception):
    """The database cannot be reached (exit 3); the message says why."""


@contextlib.asynccontextmanager
async def _store(config: Config):
    """The one way a command opens the store, closed whatever happens."""
    from .runtime import open_store
    from .store.db import StoreUnavailable
    from .store.embedded import EmbeddedError

    try:
        store = await open_store(config)
    except (StoreUnavailable, EmbeddedError) as e:
        raise DatabaseUnavailable(str(e)) from e
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def _engine(config: Config):
    """A one-shot engine (never the leader) on its own store."""
    from .engine import Engine

    async with _store(config) as store:
        engine = Engine(config, store, lead=False)
        try:
            yield engine
        finally:
            await engine.aclose()


async def _check(config: Config, *, as_json: bool) -> int:
    async with _engine(config) as engine:
        snap = await engine.check_once()
    if not snap.database.ok:
        _out(f"gonogo: database unavailable: {visible(snap.database.reason)}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if as_json:
        out = {
            "verdict": snap.verdict.value,
            "evaluated_at": snap.at.isoformat(),
            "reasons": list(snap.reasons),
            "gates": [
                {
                    "name": g.name, "value": g.value if g.value is None or math.isfinite(g.value) else None,
                    "band": g.band.value, "unit": g.unit,
                    "source": g.source, "window": g.window, "target": g.target, "detail": g.detail,
                    "stale": g.stale,
                    "green": str(g.bands.green) if g.bands else None, "red": str(g.bands.red) if g.bands else None,
                    "coverage": g.coverage.model_dump() if g.coverage else None,
                }
                for g in snap.gates
            ],
            # what this machine saw probing each target itself: counted in this answer only, never written
            "probed_here": [p.model_dump(mode="json", include={"target", "ok", "status", "latency_ms", "reason"})
                            for p in engine.probed_here],
        }
        print(json.dumps(out, indent=2, allow_nan=False))
    else:
        _out(f"verdict: {snap.verdict.value}   ({snap.at.isoformat(timespec='seconds')})")
        for r in snap.reasons:
            _out(f"  - {visible(r)}")
        w = max([len(visible(g.name)) for g in snap.gates] + [4])
        _out(f"\n{'gate':<{w}}  {'value':>10}  {'band':<8} {'green / red':<18} detail")
        for g in snap.gates:
            bands = f"{g.bands.green} / {g.bands.red}" if g.bands else ""
            _out(f"{visible(g.name):<{w}}  {visible(g.shown):>10}  {g.band.value:<8} "
                 f"{bands:<18} {visible(g.detail)}")
        if engine.probed_here:
            _out("\nprobed from here (counted in this answer only, never written):")
            for p in engine.probed_here:
                _out(f"  {visible(p.target):<{w}}  {'ok' if p.ok else 'FAILED':<6} "
                     f"{'' if p.latency_ms is None else f'{p.latency_ms:.0f} ms':>8}  {visible(p.reason)}")
    return EXIT_OK if snap.verdict.value == "GO" else EXIT_NOT_GO


async def _status(config: Config, *, as_json: bool) -> int:
    async with _store(config) as store:
        view = await store.rollout_view(config.rollout.flag, config.rollout.steps, config.rollout.soak_for)
        history = await store.rollout_history(config.rollout.flag)
    if as_json:
        print(json.dumps({
            "flag": view.flag, "percentage": view.percentage, "state": view.state, "version": view.version,
            "stage_started_at": view.stage_started_at.isoformat() if view.stage_started_at else None,
            "soak_seconds": view.soak_seconds, "soak_elapsed_seconds": view.soak_elapsed_seconds,
            "actuation": view.actuation, "actuation_error": view.actuation_error,
            "history": [e.status_json() for e in history],
        }, indent=2))
    else:
        _out(f"{visible(view.flag)}: {view.percentage} % ({view.state}), version {view.version}")
        if view.actuation != "ok":
            _out(f"  NOT APPLIED to the system ({view.actuation}): {visible(view.actuation_error)}")
        for h in history:
            _out(f"  {h.at.isoformat()}  {visible(h.operator):<12} {visible(h.action):<9} {h.from_pct:>3} → {h.to_pct:<3} "
                 f"{visible(h.reason)}")
    if view.version == 1 and not history and not config.database.url and _demo_has_run(config):
        # The demo's database is apart from this one: say so, or "0 % idle" reads as the demo's.
        _out("gonogo: this is the console's own database, never acted on; the demo's is apart"
             " (add --demo to reach it)", file=sys.stderr)
    return EXIT_OK


async def _act(config: Config, action: RolloutAction, args) -> int:
    async with _engine(config) as engine:
        # Advance needs a fresh verdict: it probes now (counted, never written); the others
        # record the latest one and must not wait on probes (a rollback is never delayed).
        snap = await (engine.check_once() if action == "advance" else engine.evaluate())
        result = await engine.controller.act(
            action, operator=config.operator, reason=args.reason, verdict=snap.verdict,
            verdict_why="; ".join(snap.reasons), gates={g.name: g.value for g in snap.gates},
            expect_percentage=args.expect, override=getattr(args, "override", False),
        )
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))  # ensure_ascii: no raw control or C1 byte
    else:
        _out(result.message, file=sys.stdout if result.outcome == "done" else sys.stderr)
    if result.outcome == "refused":
        return EXIT_NOT_GO
    return EXIT_OK if result.actuation != "failed" else EXIT_NOT_GO


async def _retry(config: Config) -> int:
    from .rollout import make_controller

    async with _store(config) as store:
        result = await make_controller(config, store).retry_actuation()
    _out(result.message if result.actuation == "ok" else f"NOT applied: {visible(result.actuation_error)}")
    return EXIT_OK if result.actuation == "ok" else EXIT_NOT_GO


async def _audit_verify(config: Config) -> int:
    """0: intact and everything verified (every signature, every signed head). 1: a
    check failed; each problem names its event. 4: nothing found wrong, but not
    everything could be checked (no key: signatures and signed heads; or a trail
    that nothing has signed yet). 2: a key is there but unusable. 3: no database."""
    from .audit_key import AuditKeyError, load_key, where_help
    from .rollout import make_controller

    exit_not_verified = 4
    try:
        key = load_key(create=False)
    except AuditKeyError as e:
        _out(f"gonogo: {visible(str(e))}", file=sys.stderr)
        return EXIT_USAGE
    async with _store(config) as store:
        report = await make_controller(config, store).verify_audit(key)
    lines = []
    for f in report.flags:
        if f.has_state:
            lines.append(f"  {visible(f.flag)}: {f.events} events, version {f.version},"
                         f" at {f.percentage} % ({visible(str(f.state)).replace('_', ' ')})")
        if f.unsigned and (f.anchored_by is None or not report.keyed):
            lines.append(f"  {visible(f.flag)}: unsigned (written before signing, ids {f.unsigned[0]}–{f.unsigned[1]})")
        elif f.unsigned:
            lines.append(f"  {visible(f.flag)}: unsigned (written before signing, ids {f.unsigned[0]}–{f.unsigned[1]});"
                         f" the signature of event id {f.anchored_by} chains over them, so they cannot have"
                         " changed since it was written")
    checks = "the hash chain, the replay of the events against the rollout state, the event count against the version"
    if report.problems:
        first = report.problems[0]
        at = f"at event id {first.event_id}" if first.event_id is not None else f"for {visible(first.flag)}"
        _out(f"audit trail BROKEN {at} ({report.events} events checked):", file=sys.stderr)
        for p in report.problems[:50]:
            where = f"event id {p.event_id} ({visible(p.flag)})" if p.event_id is not None else visible(p.flag)
            _out(f"  {where}:", file=sys.stderr)
            for why in p.reasons:
                _out(f"    - {visible(why)}", file=sys.stderr)
        if len(report.problems) > 50:
            _out(f"  … and {len(report.problems) - 50} more", file=sys.stderr)
        for line in report.not_checked:
            _out(f"  not checked: {visible(line)}", file=sys.stderr)
        return EXIT_NOT_GO
    if report.not_checked:
        _out(f"audit trail: nothing found wrong in {report.events} events, but NOT fully verified", file=sys.stderr)
        for line in report.not_checked:
            _out(f"  not checked: {visible(line)}", file=sys.stderr)
        if not report.keyed and any(f.signed or f.head_signed for f in report.flags):
            _out(f"  (to check them, {where_help()})", file=sys.stderr)
        _out(f"  checked: {checks}", file=sys.stderr)
        for line in lines:
            _out(line, file=sys.stderr)
        return exit_not_verified
    signed = f"every signature and signed head (key id {report.key_id}, from {visible(report.key_source)}), " \
        if report.keyed else ""
    _out(f"audit trail intact: {report.events} events; verified {signed}{checks}")
    for line in lines:
        _out(line)
    return EXIT_OK


async def _report(config: Config, out: str | None) -> int:
    from .report import render_report

    async with _engine(config) as engine:
        snap = await engine.check_once(probe_here=False)  # the console's evaluation, SQL and PromQL gates included
        history = await engine.store.rollout_history(config.rollout.flag)
    text = render_report(config, snap, history)
    if out:
        Path(out).write_text(text)
        _out(f"report written to {out}")
    else:
        _out(text)
    return EXIT_OK


# Every command: (config, parsed arguments) -> exit code.
COMMANDS = {
    "demo": _demo,
    "tui": lambda config, args: _tui(config),
    "watch": lambda config, args: asyncio.run(_watch(config)),
    "check": lambda config, args: asyncio.run(_check(config, as_json=args.json)),
    "status": lambda config, args: asyncio.run(_status(config, as_json=args.json)),
    **{action: (lambda config, args, action=action: asyncio.run(_act(config, action, args)))
       for action in ROLLOUT_ACTIONS},
    "retry": lambda config, args: asyncio.run(_retry(config)),
    "audit": lambda config, args: asyncio.run(_audit_verify(config)),
    "report": lambda config, args: asyncio.run(_report(config, args.out)),
}
