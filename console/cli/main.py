"""The command line: the parser, built from the dispatch table, and `main`. Every
command takes --config and --demo and honours GONOGO_DATABASE_URL; bad usage and bad
config exit 2 with one message, a database that cannot be reached 3, a bug 1 with
its traceback in the log: never a traceback on the terminal."""
from __future__ import annotations

import argparse
import logging
import sys

from .. import __version__
from ..config import Config, ConfigError, load_config, packaged_config
from ..secrets import mask_text
from . import acting, audit, reading, report, review, running
from .common import (
    EXIT_BUG, EXIT_INTERRUPTED, EXIT_UNAVAILABLE, EXIT_USAGE, Command, DatabaseUnavailable, Parser, UsageError,
    common_options, out,
)

# Every command: its help, its arguments, and (config, parsed arguments) -> exit code.
COMMANDS: dict[str, Command] = {
    **running.COMMANDS, **reading.COMMANDS, **acting.COMMANDS, **audit.COMMANDS, **report.COMMANDS,
    **review.COMMANDS,
}


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="gonogo", description="A terminal console for go/no-go decisions on progressive rollouts.",
               parents=[common_options()])
    p.add_argument("--version", action="version", version=f"gonogo {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=Parser)
    for name, command in COMMANDS.items():
        command.arguments(sub.add_parser(name, parents=[common_options()], help=command.help))
    for sp in _every_subparser(sub):
        sp.add_argument("--version", action="version", version=f"gonogo {__version__}")
    return p


def _every_subparser(sub) -> list[argparse.ArgumentParser]:
    found = []
    for parser in sub.choices.values():
        found.append(parser)
        for action in parser._subparsers._group_actions if parser._subparsers else ():
            found.extend(_every_subparser(action))
    return found


def main(argv: list[str] | None = None) -> int:
    from ..logs import safe_handler

    logging.basicConfig(level=logging.WARNING, format="%(message)s",
                        handlers=[safe_handler(logging.StreamHandler(sys.stderr))])
    try:
        args = build_parser().parse_args(argv)
    except UsageError as e:
        out(str(e), file=sys.stderr)
        out("try `gonogo --help`", file=sys.stderr)
        return EXIT_USAGE
    command = args.command or "tui"
    if getattr(args, "reason", None) is not None and not args.reason.strip():
        out("gonogo: --reason must say why (it is recorded in the audit trail); it is empty", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = _load(args, demo=(command == "demo"))
    except ConfigError as e:
        out(f"gonogo: bad config: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if getattr(args, "demo", False) and command != "demo":
            config = _attach_demo(config)
        return COMMANDS[command].run(config, args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED  # neither "GO" nor "done"
    except DatabaseUnavailable as e:
        out(f"gonogo: database unavailable: {mask_text(str(e))}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except UsageError as e:  # a command's own check of its arguments
        out(f"gonogo {command}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as e:  # a bug: one line here, the traceback in the log, and exit 1 (not "data unavailable")
        where = _log_bug(config, command)
        out(f"gonogo: internal error in `{command}`: {mask_text(str(e)) or type(e).__name__}"
            f" (a bug; the traceback is in {where})", file=sys.stderr)
        return EXIT_BUG


def _log_bug(config: Config, command: str) -> str:
    """Write the traceback of the exception being handled to <data_dir>/gonogo.log
    (secrets masked); returns where it went."""
    from ..logs import log_to_file

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
    return packaged_config()


def _attach_demo(config: Config) -> Config:
    import psycopg

    from ..demo.run import NoDemoHere, attach_demo
    from ..store.embedded import EmbeddedError

    try:
        return attach_demo(config)
    except (NoDemoHere, EmbeddedError, psycopg.Error) as e:
        raise DatabaseUnavailable(str(e)) from e
