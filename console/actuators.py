"""Applying the rollout percentage to the real system. Each actuator is idempotent:
applying the same (flag, percentage) twice leaves the system as once, so a retry
after a failure or a crash is always safe."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from .secrets import mask_text


class ActuationError(Exception):
    """The change did not reach the system; the message says why."""


class DatabaseActuator:
    """A feature-flag table that the service reads, written in the rollout's own
    transaction: the state and the flag can never disagree."""

    kind = "database"
    in_transaction = True

    def __init__(self, table: str = "gonogo.feature_flags"):
        self.table = sql.Identifier(*table.split("."))

    async def apply_in(self, conn: psycopg.AsyncConnection, flag: str, percentage: int) -> None:
        await conn.execute(
            sql.SQL(
                "insert into {} (flag, enabled, rollout_percentage, updated_at) values (%s, %s, %s, now())"
                " on conflict (flag) do update set enabled = excluded.enabled,"
                " rollout_percentage = excluded.rollout_percentage, updated_at = now()"
            ).format(self.table),
            (flag, percentage > 0, percentage),
        )

    def describe(self) -> str:
        return f"database table {self.table.as_string(None) if hasattr(self.table, 'as_string') else self.table}"


class HttpActuator:
    """POST {flag, percentage, previous, enabled} to a feature-flag service or webhook,
    with an idempotency key; non-2xx is a failure; bounded retries with backoff."""

    kind = "http"
    in_transaction = False

    def __init__(self, url: str, *, timeout: float = 5.0, retries: int = 2, client: httpx.AsyncClient | None = None):
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self._client = client

    async def apply(self, flag: str, percentage: int, previous: int, key: str) -> None:
        body = {"flag": flag, "percentage": percentage, "previous": previous, "enabled": percentage > 0,
                "idempotency_key": key}
        last = ""
        client = self._client or httpx.AsyncClient(timeout=self.timeout)
        try:
            for attempt in range(self.retries + 1):
                try:
                    r = await client.post(self.url, json=body, headers={"Idempotency-Key": key}, timeout=self.timeout)
                    if 200 <= r.status_code < 300:
                        return
                    last = f"HTTP {r.status_code} from {mask_text(self.url)}"
                    if 400 <= r.status_code < 500 and r.status_code not in (408, 429):
                        break  # the request itself is wrong: retrying will not help
                except httpx.TimeoutException:
                    last = f"timeout after {self.timeout:g}s posting to {mask_text(self.url)}"
                except httpx.HTTPError as e:
                    last = mask_text(f"{type(e).__name__}: {e}")[:200]
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
            raise ActuationError(f"cannot run {args[0]!r}: {e.strerror or e}") from None
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout=self.timeout)
        except asyncio.TimeoutError:
            _kill_group(proc)
            await proc.wait()
            raise ActuationError(f"{args[0]} timed out after {self.timeout:g}s (killed)") from None
        except asyncio.CancelledError:
            _kill_group(proc)  # the console is quitting: leave no deploy script running unseen
            raise
        if proc.returncode != 0:
            tail = err.decode(errors="replace").strip().splitlines()[-1:] if err else []
            raise ActuationError(f"{args[0]} exited {proc.returncode}" + (f": {mask_text(tail[0])[:200]}" if tail else ""))

    def describe(self) -> str:
        return "command " + " ".join(self.argv)


def _kill_group(proc) -> None:
    """Kill the command and everything it started (it runs in a session of its own)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class FileActuator:
    """A feature_flags.json written atomically (temp file + rename), keeping the
    file's other flags."""

    kind = "file"
    in_transaction = False

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()

    async def apply(self, flag: str, percentage: int, previous: int, key: str) -> None:
        await asyncio.to_thread(self._write, flag, percentage)

    def _write(self, flag: str, percentage: int) -> None:
        try:
            flags = json.loads(self.path.read_text()) if self.path.exists() else {}
        except (OSError, ValueError) as e:
            raise ActuationError(f"{self.path}: cannot read the existing flags ({e}); not overwriting it") from None
        if not isinstance(flags, dict):
            raise ActuationError(f"{self.path}: not a JSON object; not overwriting it")
        flags[flag] = {"enabled": percentage > 0, "rollout_percentage": percentage,
                       "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # mkstemp makes the file 0600: keep the existing file's mode, so the
            # service that reads its flags (often another user) still can.
            mode = self.path.stat().st_mode & 0o777 if self.path.exists() else 0o644
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            os.fchmod(fd, mode)
            with os.fdopen(fd, "w") as f:
                json.dump(flags, f, indent=2, sort_keys=True)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as e:
            raise ActuationError(f"{self.path}: {e.strerror or e}") from None

    def describe(self) -> str:
        return f"file {self.path}"


def make_actuator(config):
    """From `[actuator]` in the config; the database table by default."""
    a = getattr(config, "actuator", None)
    if a is None or a.type == "database":
        return DatabaseActuator(a.table if a is not None else "gonogo.feature_flags")
    if a.type == "http":
        return HttpActuator(a.url, timeout=a.timeout.total_seconds(), retries=a.retries)
    if a.type == "command":
        return CommandActuator(a.command, timeout=a.timeout.total_seconds())
    return FileActuator(a.file)
