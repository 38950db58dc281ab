"""Applying the rollout percentage to the real system. Each actuator is idempotent:
applying the same (flag, percentage) twice leaves the system as once, so a retry
after a failure or a crash is always safe."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import httpx
import psycopg

from .secrets import mask_text
from .store import rollout as rollout_tables


class ActuationError(Exception):
    """The change did not reach the system; the message says why (it often quotes
    the system: a script's stderr, an HTTP error)."""


class DatabaseActuator:
    """A feature-flag table that the service reads, written in the rollout's own
    transaction: the state and the flag can never disagree."""

    kind = "database"
    in_transaction = True

    def __init__(self, table: str = "gonogo.feature_flags"):
        self.table = table

    async def apply_in(self, conn: psycopg.AsyncConnection, flag: str, percentage: int) -> None:
        await rollout_tables.set_feature_flag(conn, self.table, flag, percentage)

    def describe(self) -> str:
        return f"database table {self.table}"


class HttpActuator:
    """POST {flag, percentage, previous, enabled} to a feature-flag service or webhook,
    with an idempotency key; non-2xx is a failure; bounded retries with backoff."""

    kind = "http"
    in_transaction = False

    def __init__(self, url: str, *, timeout: float = 5.0, retries: int = 2, client: httpx.AsyncClient | None = None,
                 headers: dict[str, str] | None = None):
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self._client = client
        self.headers = dict(headers or {})  # [actuator] headers: values are registered secrets, never shown

    async def apply(self, flag: str, percentage: int, previous: int, key: str) -> None:
        body = {"flag": flag, "percentage": percentage, "previous": previous, "enabled": percentage > 0,
                "idempotency_key": key}
        last = ""
        client = self._client or httpx.AsyncClient(timeout=self.timeout)
        try:
            for attempt in range(self.retries + 1):
                try:
                    r = await client.post(self.url, json=body, headers={**self.headers, "Idempotency-Key": key},
                                          timeout=self.timeout)
                    if 200 <= r.status_code < 300:
                        return
                    last = f"HTTP {r.status_code} from {mask_text(self.url)}"
                    if 400 <= r.status_code < 500 and r.status_code not in (408, 429):
                        break  # the request itself is wrong: retrying will not help
                except httpx.TimeoutException:
                    last = f"timeout after {self.timeout:g}s posting to {mask_text(self.url)}"
                except httpx.HTTPError as e:
                    last = mask_text(f"cannot post to {self.url}: {type(e).__name__}: {e}")[:300]
                if attempt < self.retries:
                    await asyncio.sleep(0.25 * 2**attempt)
        finally:
            if self._client is None:
                await client.aclose()
        raise ActuationError(last)

    def describe(self) -> str:
        return f"POST {mask_text(self.url)}"


class CommandActuator:
    """Run an argv list (no shell, ever) with {flag}, {percentage}, {previous}."""

    kind = "command"
    in_transaction = False

    def __init__(self, argv: list[str], *, timeout: float = 60.0):
        self.argv = argv
        self.timeout = timeout

    async def apply(self, flag: str, percentage: int, previous: int, key: str) -> None:
        args = [a.format(flag=flag, percentage=percentage, previous=previous, key=key) for a in self.argv]
        try:
            proc = await asyncio.create_subprocess_exec(
                *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as e:
            raise ActuationError(mask_text(f"cannot run {args[0]!r}: {e.strerror or e}")) from None
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout=self.timeout)
        except asyncio.TimeoutError:
            _kill_group(proc)
            await proc.wait()
            raise ActuationError(mask_text(f"{args[0]} timed out after {self.timeout:g}s (killed)")) from None
        except asyncio.CancelledError:
            _kill_group(proc)  # the console is quitting: leave no deploy script running unseen
            raise
        if proc.returncode != 0:
            tail = err.decode(errors="replace").strip().splitlines()[-1:] if err else []
            raise ActuationError(mask_text(f"{args[0]} exited {proc.returncode}") + (f": {mask_text(tail[0])[:200]}" if tail else ""))

    def describe(self) -> str:
        return mask_text("command " + " ".join(self.argv))  # an argument may hold a URL or a ${TOKEN}


def _kill_group(proc) -> None:
    """Kill the command and everything it started (it runs in a session of its own)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class FileActuator:
    """A feature_flags.json written atomically (temp file + rename), keeping the
    file's other flags.

    Through a symlink (or a chain of them) the file written is the one the link
    finally points at: the temp file is made in *that* file's directory (a rename
    never crosses file systems) and replaces it, with its mode kept; the link
    itself stays a link. A dangling link whose target's directory exists gets its
    target created, as a plain path that does not exist yet gets created: the
    first apply makes the file the service will read. A directory, something
    other than a regular file, a link loop or a missing parent directory is an
    ActuationError (NOT applied): gonogo creates no directories, since a missing
    one is almost always a wrong path."""

    kind = "file"
    in_transaction = False

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()

    async def apply(self, flag: str, percentage: int, previous: int, key: str) -> None:
        await asyncio.to_thread(self._write, flag, percentage)

    def _write(self, flag: str, percentage: int) -> None:
        target, existing = self._target()
        flags = self._read(target) if existing is not None else {}
        flags[flag] = {"enabled": percentage > 0, "rollout_percentage": percentage,
                       "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        # mkstemp makes the file 0600: keep the existing file's mode, so the
        # service that reads its flags (often another user) still can.
        mode = existing.st_mode & 0o777 if existing is not None else 0o644
        _replace_atomically(target, json.dumps(flags, indent=2, sort_keys=True) + "\n", mode, shown=self._shown(target))

    def _target(self) -> tuple[Path, os.stat_result | None]:
        """The file to write (symlinks followed to the end) and its stat, None when
        it does not exist yet; refuses what cannot be replaced by a flags file."""
        target = Path(os.path.realpath(self.path))
        shown = self._shown(target)
        try:
            st = os.stat(target)
        except FileNotFoundError:
            st = None
        except OSError as e:  # ELOOP: a symlink loop; EACCES on a directory on the way
            raise ActuationError(f"{shown}: {e.strerror or e}") from None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise ActuationError(f"{shown} is a directory, not a flags file")
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise ActuationError(f"{shown} is not a regular file")
        if not target.parent.is_dir():
            raise ActuationError(f"{shown}: parent directory {target.parent} does not exist")
        return target, st

    def _read(self, target: Path) -> dict:
        shown = self._shown(target)
        try:
            with open(target, "rb") as f:
                data = f.read(_MAX_FLAGS_BYTES + 1)
            if len(data) > _MAX_FLAGS_BYTES:
                raise ValueError(f"over {_MAX_FLAGS_BYTES} bytes")
            flags = json.loads(data)
        except (OSError, ValueError, RecursionError) as e:
            raise ActuationError(f"{shown}: cannot read the existing flags ({e}); not overwriting it") from None
        if not isinstance(flags, dict):
            raise ActuationError(f"{shown}: not a JSON object; not overwriting it")
        return flags

    def _shown(self, target: Path) -> str:
        """The configured path, and where its symlink leads when it does (masked:
        a path taken from the environment is a registered secret)."""
        return mask_text(str(self.path) if target == self.path.absolute() else f"{self.path} (→ {target})")

    def describe(self) -> str:
        return mask_text(f"file {self.path}")


_MAX_FLAGS_BYTES = 16 * 1024 * 1024  # a flags file is kilobytes; never read a runaway one whole


def _replace_atomically(target: Path, content: str, mode: int, *, shown: str) -> None:
    """Write `content` to a temp file beside `target`, make it durable, then rename
    it over `target`: a reader sees the old file or the new one, never half of one."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        tmp = None
        _fsync_dir(target.parent)
    except OSError as e:
        raise ActuationError(f"{shown}: {e.strerror or e}") from None
    finally:
        if tmp is not None:  # never leave a half-written temp file behind
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (a crash right after must not bring the old
    file back); best effort where a directory cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def make_actuator(config):
    """From `[actuator]` in the config; the database table by default."""
    a = getattr(config, "actuator", None)
    if a is None or a.type == "database":
        return DatabaseActuator(a.table if a is not None else "gonogo.feature_flags")
    if a.type == "http":
        return HttpActuator(a.url, timeout=a.timeout.total_seconds(), retries=a.retries, headers=a.headers)
    if a.type == "command":
        return CommandActuator(a.command, timeout=a.timeout.total_seconds())
    return FileActuator(a.file)
