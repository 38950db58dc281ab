"""The commands that read: one evaluation (`check`) and the rollout's state and
history (`status`)."""
from __future__ import annotations

import asyncio
import json
import math
import sys

from widgets.literal import visible

from ..config import Config
from .common import EXIT_NOT_GO, EXIT_OK, EXIT_UNAVAILABLE, Command, one_shot_engine, out, store_session
from .running import demo_has_run


def check_json(snap, probed_here) -> dict:
    return {
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
                        for p in probed_here],
    }


async def check(config: Config, *, as_json: bool) -> int:
    async with one_shot_engine(config) as engine:
        snap = await engine.check_once()
    if not snap.database.ok:
        out(f"gonogo: database unavailable: {visible(snap.database.reason)}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if as_json:
        print(json.dumps(check_json(snap, engine.probed_here), indent=2, allow_nan=False))
    else:
        out(f"verdict: {snap.verdict.value}   ({snap.at.isoformat(timespec='seconds')})")
        for r in snap.reasons:
            out(f"  - {visible(r)}")
        w = max([len(visible(g.name)) for g in snap.gates] + [4])
        out(f"\n{'gate':<{w}}  {'value':>10}  {'band':<8} {'green / red':<18} detail")
        for g in snap.gates:
            bands = f"{g.bands.green} / {g.bands.red}" if g.bands else ""
            out(f"{visible(g.name):<{w}}  {visible(g.shown):>10}  {g.band.value:<8} "
                f"{bands:<18} {visible(g.detail)}")
        if engine.probed_here:
            out("\nprobed from here (counted in this answer only, never written):")
            for p in engine.probed_here:
                out(f"  {visible(p.target):<{w}}  {'ok' if p.ok else 'FAILED':<6} "
                    f"{'' if p.latency_ms is None else f'{p.latency_ms:.0f} ms':>8}  {visible(p.reason)}")
    return EXIT_OK if snap.verdict.value == "GO" else EXIT_NOT_GO


async def status(config: Config, *, as_json: bool) -> int:
    async with store_session(config) as store:
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
        out(f"{visible(view.flag)}: {view.percentage} % ({view.state}), version {view.version}")
        if view.actuation != "ok":
            out(f"  NOT APPLIED to the system ({view.actuation}): {visible(view.actuation_error)}")
        for h in history:
            out(f"  {h.at.isoformat()}  {visible(h.operator):<12} {visible(h.action):<9} {h.from_pct:>3} → {h.to_pct:<3} "
                f"{visible(h.reason)}")
    if view.version == 1 and not history and not config.database.url and demo_has_run(config):
        # The demo's database is apart from this one: say so, or "0 % idle" reads as the demo's.
        out("gonogo: this is the console's own database, never acted on; the demo's is apart"
            " (add --demo to reach it)", file=sys.stderr)
    return EXIT_OK


def _json_flag(help_text: str):
    return lambda p: p.add_argument("--json", action="store_true", help=help_text)


COMMANDS = {
    "check": Command("one evaluation; exit 0 GO, 1 not GO, 2 bad usage/config, 3 data unavailable",
                     lambda config, args: asyncio.run(check(config, as_json=args.json)),
                     _json_flag("print JSON instead of a table")),
    "status": Command("rollout state and history", lambda config, args: asyncio.run(status(config, as_json=args.json)),
                      _json_flag("print JSON instead of text")),
}
