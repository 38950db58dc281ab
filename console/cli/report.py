"""`gonogo report`: the go/no-go report."""
from __future__ import annotations

import asyncio
from pathlib import Path

from ..config import Config
from .common import EXIT_OK, Command, one_shot_engine, out


async def report(config: Config, out_path: str | None) -> int:
    from ..report import render_report

    async with one_shot_engine(config) as engine:
        snap = await engine.check_once(probe_here=False)  # the console's evaluation, SQL and PromQL gates included
        history = await engine.store.rollout_history(config.rollout.flag)
    text = render_report(config, snap, history)
    if out_path:
        Path(out_path).write_text(text)
        out(f"report written to {out_path}")
    else:
        out(text)
    return EXIT_OK


def _report_arguments(p) -> None:
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")


COMMANDS = {
    "report": Command("the go/no-go report in Markdown", lambda config, args: asyncio.run(report(config, args.out)),
                      _report_arguments),
}
