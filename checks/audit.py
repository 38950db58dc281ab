"""The audit trail, pure: the unkeyed hash chain, the keyed signatures, and the
verification of a flag's trail against its rollout state.

Two chains run side by side over every flag's events (oldest first):
- `hash` = sha256(prev_hash + canonical event): unkeyed; anyone can check it, and
  anyone with write access to the database can recompute it.
- `sig` = HMAC-SHA256(key, previous event's link + canonical event), where an
  event's link is its `sig`, or its `hash` when it has none (written before
  signing). The key never lives in the database, so an edited, inserted, copied
  or reordered event cannot be re-signed by the database's superuser.
The rollout state row carries a signed head: HMAC over (flag, version, percentage,
state, soak clock, the newest event's link, the event count), written in the same
transaction as every change, so a state changed with no event, or a trail cut
short with the head moved back, is found too. What no check here can find: someone
who holds the key can rewrite the whole history and re-sign it.

Nothing here does I/O: the key comes in as bytes."""
from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

GENESIS = "0" * 64
FIELDS = ("at", "flag", "operator", "action", "from_pct", "to_pct", "reason", "verdict", "gates", "automatic", "override")


def _plain(value):
    # A timestamp reads back in the session's time zone: hash it in UTC, always.
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="microseconds")
    return str(value)


def finite_gates(gates: Mapping[str, float | None]) -> dict[str, float | None]:
    """Gate values as the audit stores them: floats, with NaN and ±Inf as null
    (JSON has no such numbers, and a rollback must never fail on its metadata)."""
    out: dict[str, float | None] = {}
    for name, v in gates.items():
        out[name] = float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None
    return out


def _floats(value):
    """A review's numbers as floats at every depth (jsonb may read 99.0 back as 99),
    NaN and ±Inf as null; booleans stay booleans."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_floats(v) for v in value]
    return value


def canonical(event: Mapping) -> str:
    fields = {k: event[k] for k in FIELDS}
    # jsonb may read a float back as an int (1e16): hash the numbers as floats.
    fields["gates"] = finite_gates(fields["gates"] or {})
    # A review event carries its decision and marks; every other event has none and
    # hashes exactly as it did before reviews existed (old trails still verify).
    if event.get("review") is not None:
        fields["review"] = _floats(event["review"])
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=_plain)


def event_hash(prev_hash: str, event: Mapping) -> str:
    return hashlib.sha256((prev_hash + "\n" + canonical(event)).encode()).hexdigest()


def first_broken(rows: Iterable[Mapping]) -> tuple[int, str] | None:
    """(id, why) of the first row whose content or link does not match, else None.
    Rows are in id order and carry `id`, `prev_hash`, `hash` and the FIELDS."""
    prev = GENESIS
    for row in rows:
        if row["prev_hash"] != prev:
            return row["id"], "its prev_hash does not match the row before it (a row was removed or reordered)"
        if event_hash(prev, row) != row["hash"]:
            return row["id"], "its content does not match its hash (the row was edited)"
        prev = row["hash"]
    return None


# --- signatures (keyed) -------------------------------------------------------------

EVENT_DOMAIN = "gonogo-audit-event-v1"
HEAD_DOMAIN = "gonogo-audit-head-v1"
MIN_KEY_BYTES = 32


def key_id(key: bytes) -> str:
    """A short public name of a key (it reveals nothing of it): which key signed what."""
    return hmac.new(key, b"gonogo-audit-key-id", hashlib.sha256).hexdigest()[:16]


def link(row: Mapping) -> str:
    """What the next event's signature chains over: this event's signature, or its
    hash when it has none (written before signing)."""
    return row.get("sig") or row["hash"]


def event_signature(key: bytes, prev_link: str, event: Mapping) -> str:
    msg = f"{EVENT_DOMAIN}\n{prev_link}\n{canonical(event)}"
    return hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()


def seal(key: bytes | None, prev: Mapping | None, event: Mapping) -> dict:
    """The audit columns of a new event written after `prev` (the flag's newest
    event, with `hash` and `sig`; None for the first): prev_hash, hash, sig and
    key_id (sig and key_id None without a key)."""
    prev_hash = prev["hash"] if prev else GENESIS
    h = event_hash(prev_hash, event)
    if key is None:
        return {"prev_hash": prev_hash, "hash": h, "sig": None, "key_id": None}
    sig = event_signature(key, link(prev) if prev else GENESIS, event)
    return {"prev_hash": prev_hash, "hash": h, "sig": sig, "key_id": key_id(key)}


HEAD_FIELDS = ("flag", "version", "percentage", "state", "stage_started_at", "soak_elapsed_s", "soak_resumed_at",
               "last", "count")


def canonical_head(head: Mapping) -> str:
    """The rollout state as its signed head covers it: `last` is the newest event's
    link (None when there is none), `count` the number of events of the flag."""
    fields = {
        "flag": str(head["flag"]), "version": int(head["version"]), "percentage": int(head["percentage"]),
        "state": str(head["state"]), "stage_started_at": head["stage_started_at"],
        "soak_elapsed_s": float(head["soak_elapsed_s"] or 0.0), "soak_resumed_at": head["soak_resumed_at"],
        "last": head["last"], "count": int(head["count"]),
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=_plain)


def head_signature(key: bytes, head: Mapping) -> str:
    return hmac.new(key, f"{HEAD_DOMAIN}\n{canonical_head(head)}".encode(), hashlib.sha256).hexdigest()


# --- verification -------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    flag: str
    event_id: int | None  # the event concerned; None when the flag has no event left
    reasons: tuple[str, ...]  # every check that failed on it, in the order they were made

    @property
    def why(self) -> str:
        return "; ".join(self.reasons)


@dataclass
class FlagAudit:
    """One flag's trail checked against its rollout state."""

    flag: str
    events: int = 0
    signed: int = 0  # events that carry a signature (checked only with a key)
    unsigned: tuple[int, int] | None = None  # ids of the events written before signing (first, last)
    anchored_by: int | None = None  # the first signed event, whose signature chains over those
    head_signed: bool = False
    has_state: bool = False
    percentage: int | None = None
    state: str | None = None
    version: int | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def unprotected(self) -> bool:
        """Events, none of them signed: nothing a key could check (before signing, or
        every signature stripped: the two look the same)."""
        return self.events > 0 and self.signed == 0


@dataclass
class AuditReport:
    flags: list[FlagAudit]
    keyed: bool  # the signatures and the signed heads were checked
    key_id: str = ""
    key_source: str = ""

    @property
    def events(self) -> int:
        return sum(f.events for f in self.flags)

    @property
    def problems(self) -> list[Problem]:
        found = [p for f in self.flags for p in f.problems]
        return sorted(found, key=lambda p: (p.event_id is None, p.event_id or 0))

    @property
    def not_checked(self) -> list[str]:
        """What could not be verified, one sentence each (empty: everything was)."""
        out = []
        for f in self.flags:
            if not self.keyed and (f.signed or f.head_signed):
                what = [f"the signatures of {f.signed} events"] if f.signed else []
                what += ["the signed head (the rollout state)"] if f.head_signed else []
                out.append(f"{f.flag}: {' and '.join(what)}: no key")
            if f.unprotected and f.unsigned:
                out.append(f"{f.flag}: events {f.unsigned[0]}–{f.unsigned[1]} are unsigned (written before signing)"
                           " and no signed event follows them yet: nothing protects them")
        return out

    @property
    def intact(self) -> bool:
        """Nothing found wrong (by the checks that could be made)."""
        return not self.problems

    @property
    def verified(self) -> bool:
        """Nothing found wrong, and everything was checked."""
        return self.intact and not self.not_checked


_STATES = ("idle", "soaking", "held", "rolled_back", "complete")


def _either(states: set[str]) -> str:
    return " or ".join(s.replace("_", " ") for s in _STATES if s in states)


def verify_flag(flag: str, rows: Sequence[Mapping], state: Mapping | None, *, key: bytes | None,
                first_step: int = 0, last_step: int | None = None) -> FlagAudit:
    """Check one flag's events (id order; each with `id`, the FIELDS, `prev_hash`,
    `hash`, `sig`, `key_id`) against its rollout state row (`percentage`, `state`,
    `version`, the soak clock, `audit_head`, `audit_count`, `audit_sig`; None when
    there is no row).

    Without a key: the hash chain (links and contents), the replay, the count against
    the version and the head's link and count. With one, also every signature and
    the signed head. `last_step` is the rollout's last step when known (the state
    after an advance to it is complete); None accepts soaking or complete."""
    audit = FlagAudit(flag=flag, events=len(rows))
    found: dict[int | None, list[str]] = {}

    def bad(event_id: int | None, why: str) -> None:
        found.setdefault(event_id, []).append(why)

    ours = key_id(key) if key is not None else ""
    prev: Mapping | None = None
    prev_sig_bad = False
    for row in rows:
        rid = row["id"]
        sig_bad = False
        if row["prev_hash"] != (prev["hash"] if prev else GENESIS):
            where = f"the event before it (id {prev['id']})" if prev else "the start of the trail"
            bad(rid, f"its prev_hash does not match {where}: an event was removed, reordered, inserted or copied")
        if event_hash(row["prev_hash"], row) != row["hash"]:
            bad(rid, "its content does not match its hash (the event was edited)")
        sig = row.get("sig")
        if sig:
            if audit.signed == 0 and audit.unsigned:
                audit.anchored_by = rid
            audit.signed += 1
            sig_bad = key is not None and not _same(event_signature(key, link(prev) if prev else GENESIS, row), sig)
            if sig_bad:
                hint = ""
                if row.get("key_id") and row["key_id"] != ours:
                    hint = (f" (it names key id {row['key_id']}, this key is {ours}: if the event is genuine,"
                            " this is not the key the consoles sign with)")
                if prev_sig_bad:
                    hint += (f" (it chains over the signature of event id {prev['id']}, which does not match either:"
                             " that one may be the only change)")
                elif audit.anchored_by == rid:
                    hint += (f" (it chains over the unsigned events before it, ids {audit.unsigned[0]}–"
                             f"{audit.unsigned[1]}: one of them may be what was changed)")
                bad(rid, "its signature does not match: the event was edited, forged, or copied from elsewhere in"
                         " the trail" + hint)
        elif audit.signed:
            bad(rid, "it is not signed, but events before it are: it was written outside gonogo, or by a console"
                     " without the key")
        else:
            audit.unsigned = (audit.unsigned[0] if audit.unsigned else rid, rid)
        prev, prev_sig_bad = row, sig_bad

    # Replay: every event starts where the one before left the rollout, and does what
    # its action can do from there (checks.rollout.decide's rules).
    pct, possible = first_step, {"idle"}
    for row in rows:
        rid, action, f, t = row["id"], row["action"], row["from_pct"], row["to_pct"]
        what = f"{action} {f} % → {t} %"
        if f != pct:
            bad(rid, f"{what} starts at {f} %, but the events before it leave the rollout at {pct} %")
        if action == "rollback":
            if t != first_step:
                bad(rid, f"{what}: a rollback returns to {first_step} %")
            after = {"rolled_back"}
        elif action in ("hold", "resume"):
            need = "soaking" if action == "hold" else "held"
            if need not in possible:
                bad(rid, f"{what}: only a {need} rollout can {action}, and it was {_either(possible)}")
            if t != f:
                bad(rid, f"{what}: {action} does not change the percentage")
            after = {"held"} if action == "hold" else {"soaking"}
        elif action == "advance":
            if not possible - {"held", "complete"}:
                bad(rid, f"{what}: a {_either(possible)} rollout cannot advance")
            if t <= f:
                bad(rid, f"{what}: an advance moves up")
            after = {"soaking", "complete"} if last_step is None else ({"complete"} if t >= last_step else {"soaking"})
        elif action == "review":
            # A go/no-go decision is recorded where the rollout stands; it moves nothing.
            if t != f:
                bad(rid, f"{what}: a review does not change the percentage")
            if row.get("review") is None:
                bad(rid, f"{what}: a review event carries no decision")
            after = possible
        else:
            bad(rid, f"its action {action!r} is not one gonogo records")
            after = set(_STATES)
        pct, possible = t, after

    last = rows[-1] if rows else None
    lid = last["id"] if last else None
    if state is None:
        if rows:
            bad(lid, f"there is no rollout state for {flag}, but its trail holds {len(rows)} events:"
                     " the state was deleted")
        audit.problems = _problems(flag, found)
        return audit
    audit.has_state = True
    audit.percentage, audit.state, audit.version = state["percentage"], state["state"], state["version"]
    now = f"{state['percentage']} % ({str(state['state']).replace('_', ' ')}, version {state['version']})"
    if state["percentage"] != pct or state["state"] not in possible:
        if last:
            bad(lid, f"the rollout state, {now}, does not follow from the trail: its newest event, id {lid}"
                     f" ({last['action']} {last['from_pct']} % → {last['to_pct']} %), leaves it at {pct} %"
                     f" ({_either(possible)}): the state was changed with no event")
        else:
            bad(None, f"the rollout state of {flag}, {now}, does not follow from the trail: it holds no event,"
                      " so nothing records a change")
    # The version counts the rollout's changes; a review is recorded but changes nothing.
    changes = sum(1 for r in rows if r["action"] != "review")
    want = 1 + changes
    if state["version"] != want:
        missing = (f"{state['version'] - want} event(s) are missing" if state["version"] > want
                   else f"{want - state['version']} event(s) too many were added")
        bad(lid, f"{flag} is at version {state['version']}, but its trail holds {changes} changes (the version"
                 f" starts at 1 and every change adds one event): {missing}, or the version was changed")

    head, count, head_sig = state.get("audit_head"), state.get("audit_count"), state.get("audit_sig")
    newest = link(last) if last else None
    if head is not None and head != newest:
        at = next((r for r in rows if link(r) == head), None)
        if at is not None:
            later = [r["id"] for r in rows if r["id"] > at["id"]]
            bad(later[0], f"the rollout state's head is event id {at['id']}, but events follow it (ids {later[0]}–"
                          f"{later[-1]}): they were added outside gonogo")
        elif last:
            bad(lid, f"the rollout state's head names an event that is not in the trail: events after id {lid}"
                     " were deleted (or this one was changed)")
        else:
            bad(None, f"the trail of {flag} is empty, but the rollout state's head names an event: its events"
                      " were deleted")
    if count is not None and count != len(rows):
        bad(lid, f"the rollout state's head counts {count} events, but the trail holds {len(rows)}")
    if head_sig:
        audit.head_signed = True
        if key is not None:
            signed = dict(state, flag=flag, last=head, count=count if count is not None else -1)
            if not _same(head_signature(key, signed), head_sig):
                after = f"newest event id {lid}" if last else "the trail is empty"
                bad(lid, f"the rollout state of {flag} does not match its signed head ({after}): its percentage,"
                         " state, version, soak clock, head or event count was changed outside gonogo")
    elif audit.signed:
        bad(lid, f"the trail of {flag} is signed, but the rollout state carries no signed head: it was cleared")
    audit.problems = _problems(flag, found)
    return audit


def _same(expected: str, stored) -> bool:
    # bytes: a stored value may be any text (compare_digest refuses non-ASCII str)
    return hmac.compare_digest(expected.encode(), str(stored).encode())


def _problems(flag: str, found: dict[int | None, list[str]]) -> list[Problem]:
    return [Problem(flag=flag, event_id=eid, reasons=tuple(whys)) for eid, whys in found.items()]
