"""The go/no-go review, pure: which gates are the burn-in criteria, what the reviewer
marked, and whether a GO may be recorded.

A criterion is a gate's reading at the moment of the review (value, window, coverage,
band) with the reviewer's mark. Unmarked is not accepted: a GO says every criterion
was looked at and accepted, so one not accepted (or never looked at) needs the
override, with its reason, as an advance over a non-GO verdict does. NO-GO is
always allowed: refusing a release never needs permission."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .models import CriterionMark, GateReading, ReviewDecisionName


def criteria(readings: Iterable[GateReading], names: Sequence[str] = ()) -> tuple[CriterionMark, ...]:
    """The criteria, unmarked, from a snapshot's readings: the gates named (in that
    order), or every gate when `names` is empty. A named gate with no reading (not
    evaluated yet) is a criterion with no value: unknown, never green."""
    by_name = {r.name: r for r in readings}
    order = list(names) if names else list(by_name)
    out = []
    for name in order:
        r = by_name.get(name)
        if r is None:
            out.append(CriterionMark(gate=name, shown="—"))
            continue
        out.append(CriterionMark(gate=r.name, value=r.value, shown=r.shown, band=r.band, window=r.window,
                                 coverage=r.coverage.fraction if r.coverage is not None else None))
    return tuple(out)


def refresh(marks: Sequence[CriterionMark], readings: Iterable[GateReading]) -> tuple[CriterionMark, ...]:
    """The same criteria with the newest readings and the reviewer's marks and notes
    kept: the review records what the gates said when the decision was taken."""
    fresh = {c.gate: c for c in criteria(readings, [m.gate for m in marks])}
    return tuple(fresh[m.gate].model_copy(update={"accepted": m.accepted, "note": m.note}) for m in marks)


def marked(marks: Sequence[CriterionMark], accepted: Mapping[str, bool] | None = None,
           notes: Mapping[str, str] | None = None) -> tuple[CriterionMark, ...]:
    """The criteria with these marks and notes set (criteria not named keep theirs)."""
    accepted, notes = accepted or {}, notes or {}
    return tuple(m.model_copy(update={"accepted": accepted.get(m.gate, m.accepted), "note": notes.get(m.gate, m.note)})
                 for m in marks)


def toggled(marks: Sequence[CriterionMark], gate: str) -> tuple[CriterionMark, ...]:
    """Space on a criterion: accepted ↔ not accepted."""
    return tuple(m.model_copy(update={"accepted": not m.accepted}) if m.gate == gate else m for m in marks)


def not_accepted(marks: Iterable[CriterionMark]) -> tuple[str, ...]:
    """The criteria a GO would be recorded over (unmarked counts as not accepted)."""
    return tuple(m.gate for m in marks if not m.accepted)


def go_allowed(marks: Sequence[CriterionMark]) -> bool:
    """GO may be recorded without an override: there are criteria and each is accepted."""
    return bool(marks) and not not_accepted(marks)


def refusal(decision: ReviewDecisionName, marks: Sequence[CriterionMark], *, override: bool) -> str:
    """Why this decision cannot be recorded ("" when it can). A GO over criteria not
    accepted needs the override; with no criteria at all there is nothing to accept."""
    if decision == "NO-GO":
        return ""
    if not marks:
        return "GO refused: there are no criteria to accept"
    missing = not_accepted(marks)
    if missing and not override:
        return (f"GO refused: not accepted: {', '.join(missing)}"
                " (an override with a reason would record it anyway)")
    return ""


def is_override(decision: ReviewDecisionName, marks: Sequence[CriterionMark]) -> bool:
    """The override mark of the audit event: a GO recorded over a criterion not accepted."""
    return decision == "GO" and bool(not_accepted(marks))


def summary(marks: Sequence[CriterionMark]) -> str:
    """One line: `4 of 5 accepted; not accepted: cost_daily`."""
    if not marks:
        return "no criteria"
    missing = not_accepted(marks)
    head = f"{len(marks) - len(missing)} of {len(marks)} accepted"
    return f"{head}; not accepted: {', '.join(missing)}" if missing else head


def mark_word(m: CriterionMark) -> str:
    """How a mark is spelled on screen, in the CLI and the report."""
    return "accepted" if m.accepted else "not accepted"


def coverage_text(fraction: float | None) -> str:
    return "—" if fraction is None else f"{fraction * 100:.0f} %"
