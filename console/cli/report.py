"""`gonogo report [--out F] [--format md|html] [--at TIME]`: the go/no-go report, read
from the database as it stood at TIME (default: now), so the same command with the
same --at writes the same bytes, whatever was written since."""
from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from ..config import Config
from .common import EXIT_OK, Command, UsageError, out, store_session

FORMATS = ("md", "html")


def report_format(fmt: str | None, out_path: str | None) -> str:
    """The format asked for, else the one --out's suffix names (.html, .htm), else md."""
    if fmt:
        return fmt
    return "html" if out_path and Path(out_path).suffix.lower() in (".html", ".htm") else "md"


def write_atomically(path: Path, text: str) -> None:
    """A reader of `path` sees the old report or the new one, never half of one."""
    path = path.expanduser()
    fd, tmp = tempfile.mkstemp(dir=path.parent or Path("."), prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 is for the temporary file, not the report
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def report(config: Config, args) -> int:
    from ..report import RENDERERS, parse_moment, read_report

    zone = config.console.zone
    now = datetime.now(timezone.utc)
    if args.at is None:
        # To the millisecond, as the report prints its --at (the same report again): cut
        # to the second, it would miss what was recorded in the second it was asked for.
        at = now.replace(microsecond=now.microsecond // 1000 * 1000)
    else:
        try:
            at = parse_moment(args.at, zone)
        except ValueError as e:
            raise UsageError(f"--at: {e}") from None
        if at > now:
            raise UsageError(f"--at: {args.at!r} has not happened yet: a report is of what was recorded by then")
    fmt = report_format(args.format, args.out)
    async with store_session(config) as store:
        data = await read_report(store, config, at, zone)
    text = RENDERERS[fmt](data)
    if args.out:
        try:
            write_atomically(Path(args.out), text)
        except OSError as e:
            raise UsageError(f"--out: cannot write {args.out}: {e.strerror or e}") from None
        out(f"report written to {args.out}")
    else:
        out(text.rstrip("\n"))
    return EXIT_OK


def _report_arguments(p) -> None:
    p.add_argument("--out", metavar="FILE", help="write to FILE (atomically) instead of standard output")
    p.add_argument("--format", choices=FORMATS, help="md or html (default: from --out's suffix, else md)")
    p.add_argument("--at", metavar="TIME",
                   help="the report as the database stood at TIME: ISO 8601, or \"2025-11-24 09:00\" in the"
                        " console's zone (default: now)")


COMMANDS = {
    "report": Command("the go/no-go report (Markdown or one self-contained HTML file), for now or a past --at",
                      lambda config, args: asyncio.run(report(config, args)), _report_arguments),
}
