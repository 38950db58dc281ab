"""Opening the database the config asks for: the embedded server or a URL."""
from __future__ import annotations

import asyncio

import psycopg

from .config import Config
from .store.db import Store, StoreUnavailable, describe_db_error
from .store.embedded import start_embedded
from .store.sandbox import grant_reader
from .store.supervisor import EmbeddedSupervisor


def database_url(config: Config, *, embedded_name: str = "pg") -> str:
    """The URL to use, starting the embedded server when the config gives none.
    Blocking (it may start a server): call it off the event loop."""
    if config.database.url:
        return config.database.url
    return start_embedded(config.database.data_path, embedded_name)


async def open_store(config: Config, *, embedded_name: str = "pg", migrate: bool = True) -> Store:
    url = await asyncio.to_thread(database_url, config, embedded_name=embedded_name)
    store = Store(url, statement_timeout=config.database.statement_timeout,
                  query_url=config.database.query_url or None)
    await store.open()
    if migrate:
        await store.migrate()
        if not config.database.url:
            # The embedded server's reader role must see the schemas the migrations made
            # (gonogo_shared) and never the console's own: the grants follow them.
            try:
                await asyncio.to_thread(grant_reader, url)
            except psycopg.Error as e:
                await store.close()
                raise StoreUnavailable(f"cannot set up the read-only role: {describe_db_error(e)}") from e
    # The embedded server this process started (or reuses) is started again when it
    # dies; a long-running engine runs the supervisor (Engine.run), a one-shot command
    # never does. A server given by URL is someone else's: never supervised.
    store.supervisor = None if config.database.url else EmbeddedSupervisor(config.database.data_path, embedded_name)
    return store
