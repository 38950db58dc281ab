"""`gonogo review`: the go/no-go review from the command line, so a script can run one.
Without --decision it reads: the criteria (the gates of `[review] criteria`, every
gate by default) with the current evaluation, and the latest recorded review. With
--decision it records one, as `d` on the review screen does: each criterion marked
with --accept / --reject (unmarked is not accepted), notes with --note NAME=TEXT, a
GO over a criterion not accepted refused (exit 1, naming it) unless --override."""
from __future__ import annotations

import asyncio
import json
import sys

from checks import review
from checks.models import ReviewDecision
from widgets.literal import visible

from ..config import Config
from .common import EXIT_NOT_GO, EXIT_OK, EXIT_UNAVAILABLE, Command, UsageError, one_shot_engine, out


def _marks_asked(config: Config, args) -> tuple[dict[str, bool], dict[str, str]]:
    """The marks and notes the flags give, checked against the criteria (exit 2 on a
    name that is not one, a criterion both accepted and rejected, a note without =)."""
    names = set(config.review_criteria)
    accepted: dict[str, bool] = {}
    for flag, value in (("--accept", True), ("--reject", False)):
        for name in getattr(args, flag[2:]) or ():
            if name not in names:
                raise UsageError(f"{flag} {visible(name, limit=100)}: not a criterion; the criteria are:"
                                 f" {', '.join(config.review_criteria)}")
            if accepted.get(name, value) != value:
                raise UsageError(f"{visible(name, limit=100)} is both accepted and rejected")
            accepted[name] = value
    notes: dict[str, str] = {}
    for text in args.note or ():
        name, sep, note = text.partition("=")
        if not sep:
            raise UsageError(f"--note {visible(text, limit=100)}: write --note NAME=TEXT")
        if name not in names:
            raise UsageError(f"--note {visible(name, limit=100)}: not a criterion; the criteria are:"
                             f" {', '.join(config.review_criteria)}")
        notes[name] = note.strip()
    return accepted, notes


async def run_review(config: Config, args) -> int:
    recording = args.decision is not None
    if recording and args.reason is None:
        raise UsageError("--decision needs --reason (it is recorded in the audit trail)")
    if not recording and (args.accept or args.reject or args.note or args.reason or args.present or args.override):
        raise UsageError("marks, notes, --reason, --present and --override record a review: give --decision too")
    accepted, notes = _marks_asked(config, args)
    async with one_shot_engine(config) as engine:
        # A decision is taken on a fresh evaluation (probed now, counted, never written).
        snap = await engine.check_once()
        if not snap.database.ok:
            out(f"gonogo: database unavailable: {visible(snap.database.reason)}", file=sys.stderr)
            return EXIT_UNAVAILABLE
        marks = review.marked(review.criteria(snap.gates, config.review_criteria), accepted, notes)
        if not recording:
            latest = await engine.store.latest_review(config.rollout.flag)
            return _show(config, snap, marks, latest, as_json=args.json)
        decision = ReviewDecision(decision=args.decision, reason=args.reason, present=args.present or "",
                                  criteria=marks, override=args.override)
        result = await engine.controller.record_review(decision, operator=config.operator, verdict=snap.verdict,
                                                       gates={g.name: g.value for g in snap.gates})
    if args.json:
        print(json.dumps(dict(result.model_dump(mode="json"), criteria=[m.model_dump(mode="json") for m in marks]),
                         indent=2, allow_nan=False))
    else:
        out(result.message, file=sys.stdout if result.outcome == "done" else sys.stderr)
        if result.outcome == "done":
            out(f"criteria: {visible(review.summary(marks))}")
    return EXIT_OK if result.outcome == "done" else EXIT_NOT_GO


def _show(config: Config, snap, marks, latest, *, as_json: bool) -> int:
    rollout = snap.rollout
    if as_json:
        print(json.dumps({
            "flag": config.rollout.flag,
            "percentage": rollout.percentage if rollout else None,
            "verdict": snap.verdict.value,
            "evaluated_at": snap.at.isoformat(),
            "criteria": [{"name": m.gate, "value": m.value, "shown": m.shown, "window": m.window,
                          "coverage": m.coverage, "band": m.band.value} for m in marks],
            "latest_review": latest.review_json() if latest else None,
        }, indent=2, allow_nan=False))
        return EXIT_OK
    where = f" at {rollout.percentage} %" if rollout else ""
    out(f"review of {visible(config.rollout.flag)}{where}   verdict now: {snap.verdict.value}"
        f"   ({snap.at.isoformat(timespec='seconds')})")
    w = max([len(visible(m.gate)) for m in marks] + [9])
    out(f"\n{'criterion':<{w}}  {'value':>10}  {'window':<7} {'coverage':>8}  band")
    for m in marks:
        out(f"{visible(m.gate):<{w}}  {visible(m.shown):>10}  {visible(m.window or 'now'):<7} "
            f"{review.coverage_text(m.coverage):>8}  {m.band.value}")
    if latest is None:
        out("\nno review recorded yet")
        return EXIT_OK
    ov = " (OVERRIDE)" if latest.override else ""
    out(f"\nlatest review: {latest.decision}{ov} at {latest.percentage} % by {visible(latest.operator)}"
        f" on {latest.at.isoformat(timespec='seconds')}: {visible(latest.reason)}")
    if latest.present:
        out(f"  present: {visible(latest.present)}")
    for m in latest.criteria:
        note = f"  ({visible(m.note)})" if m.note else ""
        out(f"  {review.mark_word(m):<13} {visible(m.gate)}  {visible(m.shown)}{note}")
    return EXIT_OK


def _arguments(a) -> None:
    a.add_argument("--json", action="store_true", help="print the criteria and the latest review (or the result) as JSON")
    a.add_argument("--accept", action="append", metavar="NAME", help="mark a criterion accepted (repeatable)")
    a.add_argument("--reject", action="append", metavar="NAME",
                   help="mark a criterion not accepted (repeatable; unmarked is not accepted too)")
    a.add_argument("--note", action="append", metavar="NAME=TEXT", help="a note on a criterion (repeatable)")
    a.add_argument("--decision", choices=["GO", "NO-GO"], help="record the decision (needs --reason)")
    a.add_argument("--reason", help="why (recorded in the audit trail)")
    a.add_argument("--present", help="the names of the others in the review, free text")
    a.add_argument("--override", action="store_true",
                   help="record GO although a criterion is not accepted (recorded as an override)")


COMMANDS = {
    "review": Command("the go/no-go review: read the criteria (--json), or record GO / NO-GO",
                      lambda config, args: asyncio.run(run_review(config, args)), _arguments),
}
