"""The go/no-go report in Markdown, from one snapshot and the audit trail (pure)."""
from __future__ import annotations

from checks.models import Band, Snapshot
from checks.verdict import format_value

MARK = {Band.GREEN: "🟢", Band.YELLOW: "🟡", Band.RED: "🔴", Band.UNKNOWN: "⚪"}


def render_report(config, snap: Snapshot, history: list[dict]) -> str:
    bi = snap.burn_in
    lines = [
        f"# Go/no-go report: {config.rollout.flag}",
        "",
        f"Evaluated {snap.at.isoformat(timespec='seconds')} by gonogo.",
        "",
        f"## Verdict: **{snap.verdict.value}**",
        "",
    ]
    lines += [f"- {r}" for r in snap.reasons] or ["- all gates green: advance allowed"]
    if not snap.database.ok:
        lines += ["", f"> The database was unavailable ({snap.database.reason}); values are the last known, STALE."]
    lines += ["", "## Gates", "", "| gate | value | band | green | red | window | detail |", "|---|---|---|---|---|---|---|"]
    for g in snap.gates:
        green, red = (str(g.bands.green), str(g.bands.red)) if g.bands else ("", "")
        lines.append(f"| {g.name} | {format_value(g.value, g.unit, g.bands)} | {MARK[g.band]} {g.band.value}"
                     f"{' (stale)' if g.stale else ''} | {green} | {red} | {g.window} | {g.detail} |")
    if bi is not None:
        lines += ["", "## Burn-in", "",
                  f"- window: {bi.start:%Y-%m-%d %H:%M} UTC → {bi.end:%Y-%m-%d %H:%M} UTC ({bi.days} days)",
                  f"- review: {bi.review:%Y-%m-%d %H:%M} UTC",
                  f"- consecutive clean days: {bi.clean_days} of {bi.days} needed"]
    r = snap.rollout
    if r is not None:
        lines += ["", "## Rollout", "", f"- at **{r.percentage} %** of steps {list(r.steps)}, state **{r.state}**, version {r.version}"]
    lines += ["", "## Decisions (audit trail, oldest first)", ""]
    if history:
        lines += ["| when | who | action | from → to | verdict | reason |", "|---|---|---|---|---|---|"]
        for h in history:
            marks = " ".join(m for m, on in (("AUTO", h["automatic"]), ("OVERRIDE", h["override"])) if on)
            lines.append(f"| {h['at'][:19]} | {h['operator']} | {h['action']} {marks} | {h['from']} → {h['to']} % |"
                         f" {h['verdict']} | {h['reason']} |")
    else:
        lines.append("No rollout actions yet.")
    open_alerts = [a for a in snap.alerts if not a.acked]
    lines += ["", "## Open alerts", ""]
    lines += [f"- {a.at:%Y-%m-%d %H:%M} {a.severity} [{a.source}] {a.name} {a.summary}" for a in open_alerts] or ["None."]
    return "\n".join(lines) + "\n"
