"""`gonogo audit verify`: the audit trail checked (signatures, chain, signed head,
replay), every problem named by its event."""
from __future__ import annotations

import asyncio
import sys

from widgets.literal import visible

from ..config import Config
from .common import EXIT_NOT_GO, EXIT_OK, EXIT_USAGE, Command, Parser, common_options, out, store_session


async def audit_verify(config: Config) -> int:
    """0: intact and everything verified (every signature, every signed head). 1: a
    check failed; each problem names its event. 4: nothing found wrong, but not
    everything could be checked (no key: signatures and signed heads; or a trail
    that nothing has signed yet). 2: a key is there but unusable. 3: no database."""
    from ..audit_key import AuditKeyError, load_key, where_help
    from ..rollout import make_controller

    exit_not_verified = 4
    try:
        key = load_key(create=False)
    except AuditKeyError as e:
        out(f"gonogo: {visible(str(e))}", file=sys.stderr)
        return EXIT_USAGE
    async with store_session(config) as store:
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
        out(f"audit trail BROKEN {at} ({report.events} events checked):", file=sys.stderr)
        for p in report.problems[:50]:
            where = f"event id {p.event_id} ({visible(p.flag)})" if p.event_id is not None else visible(p.flag)
            out(f"  {where}:", file=sys.stderr)
            for why in p.reasons:
                out(f"    - {visible(why)}", file=sys.stderr)
        if len(report.problems) > 50:
            out(f"  … and {len(report.problems) - 50} more", file=sys.stderr)
        for line in report.not_checked:
            out(f"  not checked: {visible(line)}", file=sys.stderr)
        return EXIT_NOT_GO
    if report.not_checked:
        out(f"audit trail: nothing found wrong in {report.events} events, but NOT fully verified", file=sys.stderr)
        for line in report.not_checked:
            out(f"  not checked: {visible(line)}", file=sys.stderr)
        if not report.keyed and any(f.signed or f.head_signed for f in report.flags):
            out(f"  (to check them, {where_help()})", file=sys.stderr)
        out(f"  checked: {checks}", file=sys.stderr)
        for line in lines:
            out(line, file=sys.stderr)
        return exit_not_verified
    signed = f"every signature and signed head (key id {report.key_id}, from {visible(report.key_source)}), " \
        if report.keyed else ""
    out(f"audit trail intact: {report.events} events; verified {signed}{checks}")
    for line in lines:
        out(line)
    return EXIT_OK


def _audit_arguments(p) -> None:
    sub = p.add_subparsers(dest="audit_command", parser_class=Parser, required=True)
    sub.add_parser("verify", parents=[common_options()],
                   help="check signatures, chain, signed head and replay; exit 0 intact, 1 broken"
                        " (names each bad event), 4 not fully verifiable (no key)")


COMMANDS = {
    "audit": Command("the audit trail", lambda config, args: asyncio.run(audit_verify(config)), _audit_arguments),
}
