"""The commands that change the rollout: the four actions, the same as the keys,
and `retry` (re-apply the current percentage through the actuator)."""
from __future__ import annotations

import asyncio
import json
import sys

from checks.models import ROLLOUT_ACTIONS, RolloutAction
from widgets.literal import visible

from ..config import Config
from .common import EXIT_NOT_GO, EXIT_OK, Command, one_shot_engine, out, store_session

ACTION_HELP: dict[RolloutAction, str] = {
    "advance": "move one step up (needs GO and the soak done, or --override)",
    "hold": "pause the soak clock",
    "resume": "restart the soak clock",
    "rollback": "return to 0 %% at once (always allowed)",
}


async def act(config: Config, action: RolloutAction, args) -> int:
    async with one_shot_engine(config) as engine:
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
        out(result.message, file=sys.stdout if result.outcome == "done" else sys.stderr)
    if result.outcome == "refused":
        return EXIT_NOT_GO
    return EXIT_OK if result.actuation != "failed" else EXIT_NOT_GO


async def retry(config: Config) -> int:
    from ..rollout import make_controller

    async with store_session(config) as store:
        result = await make_controller(config, store).retry_actuation()
    out(result.message if result.actuation == "ok" else f"NOT applied: {visible(result.actuation_error)}")
    return EXIT_OK if result.actuation == "ok" else EXIT_NOT_GO


def _action_arguments(action: RolloutAction):
    def arguments(a) -> None:
        a.add_argument("--reason", required=True, help="why (recorded in the audit trail)")
        a.add_argument("--expect", type=int, metavar="PCT", help="refuse unless the rollout is at PCT now")
        if action == "advance":
            a.add_argument("--override", action="store_true",
                           help="let a non-GO verdict or an unfinished soak through (recorded as an override)")
        a.add_argument("--json", action="store_true", help="print the result as JSON")
    return arguments


COMMANDS = {
    **{action: Command(ACTION_HELP[action],
                       lambda config, args, action=action: asyncio.run(act(config, action, args)),
                       _action_arguments(action))
       for action in ROLLOUT_ACTIONS},
    "retry": Command("re-apply the current percentage through the actuator (idempotent)",
                     lambda config, args: asyncio.run(retry(config))),
}
