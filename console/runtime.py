"""Opening the database the config asks for: the embedded server or a URL."""
from __future__ import annotations

import asyncio

from .config import Config
from .store.db import Store
from .store.embedded import start_embedded


def database_url(config: Config, *, embedded_name: str = "pg") -> str:
    """The URL to use, starting the embedded server when the config gives none.
    Blocking (it may start a server): call it off the event loop."""
    if config.database.url:
        return config.database.url
    return start_embedded(config.database.data_path, embedded_name)


async def open_store(config: Config, *, embedded_name: str = "pg", migrate: bool = True) -> Store:
    url = await asyncio.to_thread(database_url, config, embedded_name=embedded_name)
    store = Store(url, statement_timeout=config.database.statement_timeout)
    await store.open()
    if migrate:
        await store.migrate()
    return store
