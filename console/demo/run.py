"""`gonogo demo`: embedded PostgreSQL + the simulated service + the console."""
from __future__ import annotations

import asyncio
import socket
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

from ..config import Config
from ..store.db import Store
from ..store.embedded import start_embedded
from ..store.sandbox import grant_reader
from .seed import seed
from .service import SimulatedService

DEMO_DB = "demo-pg"  # kept apart from the real console's embedded database


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _with_port(url: str, port: int) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, f"127.0.0.1:{port}", p.path, p.query, p.fragment))


async def _migrate(url: str) -> None:
    store = Store(url)
    await store.open()
    try:
        await store.migrate()
    finally:
        await store.close()


def prepare_demo(config: Config, *, port: int | None = None, reset: bool = False) -> tuple[Config, SimulatedService]:
    """Start the simulated service and the demo database, seed the week, and return
    the config pointed at both (targets on the service's port, the burn-in dates
    moved so that the window ends in a few hours)."""
    components = [t.name for t in config.targets] or ["api", "auth", "billing", "search", "worker"]
    service = SimulatedService(components=components)
    wanted = port if port is not None else (urlsplit(config.targets[0].url).port if config.targets else 0) or 0
    bound = service.start(wanted if wanted and _port_free(wanted) else 0)
    try:
        # Always its own embedded database: the demo rewrites its tables, never point it at a real one.
        url = start_embedded(config.database.data_path, DEMO_DB)
        asyncio.run(_migrate(url))
        start = asyncio.run(seed(url, components, config.rollout.flag, config.rollout.steps, reset=reset))
        grant_reader(url)  # the demo's SQL gates read schema demo, made by the seed
    except Exception:
        service.stop()
        raise
    targets = [t.model_copy(update={"url": _with_port(t.url, bound)}) for t in config.targets]
    burn_in = config.burn_in.model_copy(
        update={"start": start, "review": start + timedelta(days=config.burn_in.days + 1)}
    )
    database = config.database.model_copy(update={"url": url})
    demo_config = config.model_copy(update={"targets": targets, "burn_in": burn_in, "database": database})
    return demo_config, service
