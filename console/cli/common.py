"""What every command shares: the exit codes, the one writer of text, the one way a
command opens the store (and a one-shot engine on it), and the shape of a command
in the dispatch table."""
from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass

from widgets.literal import visible

from ..config import Config

EXIT_OK, EXIT_NOT_GO, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3
EXIT_BUG = 1  # a bug is not "data unavailable": only a database that cannot be reached is 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


def out(text: object = "", *, file=None) -> None:
    """The CLI's one writer of text: whatever a value carries (an alert, a reason,
    an actuator's stderr), the terminal sees no control character but newline.
    Single-line fields are also passed through visible() where they are formatted."""
    print(visible(text, multiline=True), file=file or sys.stdout, flush=True)


class UsageError(Exception):
    pass


class DatabaseUnavailable(Exception):
    """The database cannot be reached (exit 3); the message says why."""


@dataclass(frozen=True)
class Command:
    """One entry of the dispatch table: the parser's help and arguments, and what runs."""

    help: str
    run: Callable[[Config, argparse.Namespace], int]
    arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None


@contextlib.asynccontextmanager
async def store_session(config: Config):
    """The one way a command opens the store, closed whatever happens."""
    from ..runtime import open_store
    from ..store.db import StoreUnavailable
    from ..store.embedded import EmbeddedError

    try:
        store = await open_store(config)
    except (StoreUnavailable, EmbeddedError) as e:
        raise DatabaseUnavailable(str(e)) from e
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def one_shot_engine(config: Config):
    """A one-shot engine (never the leader) on its own store."""
    from ..engine import Engine

    async with store_session(config) as store:
        engine = Engine(config, store, lead=False)
        try:
            yield engine
        finally:
            await engine.aclose()


class Parser(argparse.ArgumentParser):
    def error(self, message):  # exit 2 with one line, as argparse does, but via our path
        raise UsageError(f"{self.prog}: {message}")


def common_options() -> argparse.ArgumentParser:
    """The options every command and subcommand takes, as an argparse parent."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand that is not given --config must not overwrite the global one.
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="config file (default: ./config.toml, then the XDG config dir)")
    common.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                        help="act on the running demo (its database, burn-in and service), from another shell")
    return common
