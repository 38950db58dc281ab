"""`gonogo demo`: embedded PostgreSQL + the simulated service + the console."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg

from ..config import BurnInSection, Config
from ..store import demo_seed
from ..store.db import Store
from ..store.embedded import pgdata_path, start_embedded
from ..store.sandbox import grant_reader
from .controls import DemoControls
from .process import ServiceProcess
from .seed import seed

DEMO_DB = "demo-pg"  # kept apart from the real console's embedded database


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


def prepare_demo(config: Config, *, port: int | None = None, reset: bool = False) -> tuple[Config, DemoControls]:
    """Start the simulated service and the demo database, seed the week, and return
    the config pointed at both (targets on the service's port, the burn-in dates
    moved so that the window ends in a few hours), and what the demo keys reach (the
    service's faults, and `n`'s clean week).

    The service runs in a process of its own (`console/demo/process.py`), started
    first: it imports and binds while the database starts. It listens on the wanted
    port (`port`, else the first target's) if that is free, else on any free one."""
    components = [t.name for t in config.targets] or ["api", "auth", "billing", "search", "worker"]
    wanted = port if port is not None else (urlsplit(config.targets[0].url).port if config.targets else 0) or 0
    service = ServiceProcess(components, log=config.database.data_path / "gonogo.log").start(wanted)
    try:
        # Always its own embedded database: the demo rewrites its tables, never point it at a real one.
        url = start_embedded(config.database.data_path, DEMO_DB)
        asyncio.run(_migrate(url))
        start = asyncio.run(seed(url, components, config.rollout.flag, config.rollout.steps, reset=reset,
                                 config=config))
        grant_reader(url)  # the demo's SQL gates read schema demo, made by the seed
        bound = service.wait_ready()  # long since listening, as a rule
        asyncio.run(_remember_port(url, bound))  # for `--demo` in another shell
    except BaseException:  # Ctrl-C while starting too: the child is stopped, not left to its pipe's end
        service.stop()
        raise
    demo_config = _demo_config(config, url=url, start=start, port=bound)
    controls = DemoControls(service, url=url, components=components, flag=config.rollout.flag,
                            steps=list(config.rollout.steps), burn_in_start=start, settle=_settle(config),
                            config=config)
    return demo_config, controls


def _settle(config: Config) -> timedelta:
    """How long `n` waits, at most, for the probes sent under a fault to be written:
    the next probe of every target (its interval and timeout) and the evaluation that
    writes it, with a second to spare."""
    longest = max((t.interval + t.timeout for t in config.targets), default=timedelta(seconds=5))
    return longest + config.console.refresh + timedelta(seconds=1)


def _demo_config(config: Config, *, url: str, start: datetime, port: int) -> Config:
    """The config pointed at the demo: its database, its service's port, and the
    burn-in of its story (ending in a few hours, whatever the config says of one)."""
    targets = [t.model_copy(update={"url": _with_port(t.url, port)}) for t in config.targets]
    days = config.burn_in.days if config.burn_in is not None else 7
    burn_in = BurnInSection(start=start, days=days, review=start + timedelta(days=days + 1))
    database = config.database.model_copy(update={"url": url})
    return config.model_copy(update={"targets": targets, "burn_in": burn_in, "database": database})


class NoDemoHere(Exception):
    """`--demo` where no demo has run (with this config's data_dir)."""


def attach_demo(config: Config) -> Config:
    """The config a command in another shell uses to reach the demo (`--demo`): the
    demo's own database (started if it is not running), its burn-in and its service."""
    if not pgdata_path(config.database.data_path, DEMO_DB).exists():
        raise NoDemoHere(f"no demo has run with data_dir {config.database.data_dir}; start one with `gonogo demo`")
    url = start_embedded(config.database.data_path, DEMO_DB)
    meta = asyncio.run(_recall(url))
    if "burn_in_start" not in meta:
        raise NoDemoHere("the demo's database holds no demo yet; start one with `gonogo demo`")
    port = int(meta.get("service_port") or 0) or (urlsplit(config.targets[0].url).port if config.targets else 0) or 0
    return _demo_config(config, url=url, start=datetime.fromisoformat(meta["burn_in_start"]), port=port)


async def _recall(url: str) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await demo_seed.recall(conn)


async def _remember_port(url: str, port: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await demo_seed.remember(conn, "service_port", str(port))
