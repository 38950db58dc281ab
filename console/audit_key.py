"""The key that signs the audit trail. It never lives in the database: a superuser
of the database can edit any row, but cannot sign one.

Where it comes from, first found wins:
1. `GONOGO_AUDIT_KEY`: at least 64 hex digits (32 bytes; `openssl rand -hex 32`), or
   base64 (standard or URL-safe) of at least 32 bytes. Set but empty, or anything
   else, is an error that names the variable and never shows its value.
2. The key file `audit.key` in the XDG config dir (`platformdirs.user_config_dir
   ("gonogo")`, where the config file is looked for too: `~/.config/gonogo/audit.key`),
   holding the same text. It must be a regular file readable by its owner only
   (mode 0600 or 0400; a file readable or writable by group or others is refused,
   never loosened or tightened behind the owner's back, as ssh does with a private key).

A process that writes events (an action, the demo's seed) creates the key file on
first use when there is none, with mode 0600, atomically: the key is written to a
temporary file opened with O_EXCL and published with link(), which fails if another
process got there first (then that one's key is read). `gonogo audit verify` never
creates a key.
"""
from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from checks.audit import MIN_KEY_BYTES, key_id

ENV = "GONOGO_AUDIT_KEY"
FILE_NAME = "audit.key"
_MAX_TEXT = 4096
_FORMAT = (f"64 or more hex digits ({MIN_KEY_BYTES} bytes; e.g. `openssl rand -hex 32`), or base64 of at least"
           f" {MIN_KEY_BYTES} bytes")


class AuditKeyError(Exception):
    """A key that is there but cannot be used (its value is never in the message)."""


@dataclass(frozen=True)
class AuditKey:
    secret: bytes = field(repr=False)
    source: str  # "GONOGO_AUDIT_KEY" or the key file's path

    @property
    def id(self) -> str:
        return key_id(self.secret)


def key_path() -> Path:
    return Path(platformdirs.user_config_dir("gonogo")) / FILE_NAME


def where_help() -> str:
    """Where a key is looked for, for messages."""
    return f"set {ENV}, or put the key in {key_path()}"


def parse_key(text: str, where: str) -> bytes:
    s = text.strip()
    if not s:
        raise AuditKeyError(f"{where} is empty: a key is {_FORMAT}")
    if len(s) > _MAX_TEXT:
        raise AuditKeyError(f"{where} is too long to be a key: a key is {_FORMAT}")
    if re.fullmatch(r"[0-9a-fA-F]+", s):
        if len(s) >= 2 * MIN_KEY_BYTES and len(s) % 2 == 0:
            return bytes.fromhex(s)
        raise AuditKeyError(f"{where} holds {len(s)} hex digits; a key is {_FORMAT}")
    try:
        b64 = s.replace("-", "+").replace("_", "/")
        key = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise AuditKeyError(f"{where} is neither hex nor base64: a key is {_FORMAT}") from None
    if len(key) < MIN_KEY_BYTES:
        raise AuditKeyError(f"{where} decodes to {len(key)} bytes, too short: a key is {_FORMAT}")
    return key


def load_key(*, create: bool = False) -> AuditKey | None:
    """The audit key, or None when there is none (and `create` is false).
    AuditKeyError when one is there but unusable (or cannot be created)."""
    value = os.environ.get(ENV)
    if value is not None:
        return AuditKey(parse_key(value, ENV), ENV)
    path = key_path()
    try:
        return _read(path)
    except FileNotFoundError:
        if not create:
            return None
    return _create(path)


def _read(path: Path) -> AuditKey:
    """FileNotFoundError when there is no key file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as e:
        raise AuditKeyError(f"the audit key file {path} cannot be read: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise AuditKeyError(f"the audit key file {path} is not a regular file")
        if st.st_mode & 0o077:
            raise AuditKeyError(
                f"the audit key file {path} is readable or writable by others (mode {stat.S_IMODE(st.st_mode):04o});"
                f" anyone who can read it can rewrite the audit trail undetected. Make it the owner's only"
                f" (`chmod 600 {path}`) if no one else has read it, else replace the key")
        text = os.read(fd, _MAX_TEXT + 1)
    finally:
        os.close(fd)
    try:
        decoded = text.decode("ascii")
    except UnicodeDecodeError:
        raise AuditKeyError(f"the audit key file {path} is not text: a key is {_FORMAT}") from None
    return AuditKey(parse_key(decoded, f"the audit key file {path}"), str(path))


def _create(path: Path) -> AuditKey:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            try:
                os.write(fd, (secrets.token_hex(MIN_KEY_BYTES) + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)  # publishes the whole file at once; fails if one is there already
            except FileExistsError:
                pass  # another process created it first: use that one
            except OSError:
                _create_in_place(path, tmp)  # a file system without hard links
        finally:
            tmp.unlink(missing_ok=True)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as e:
        raise AuditKeyError(f"no audit key, and the key file {path} cannot be created: {e.strerror}"
                            f" ({ENV} can give the key instead)") from None
    return _read(path)


def _create_in_place(path: Path, tmp: Path) -> None:
    """O_EXCL on the key file itself; a reader racing with it may see it half-written
    (and say the key is malformed) for the moment it takes to write 65 bytes."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        return
    try:
        os.write(fd, tmp.read_bytes())
        os.fsync(fd)
    finally:
        os.close(fd)
