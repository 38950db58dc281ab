"""A fast, keep-alive HTTP/1.1 health endpoint on 127.0.0.1, for probe tests and
benches (stdlib only: asyncio streams, no framework).

    with FastServer() as srv:              # in a thread of this process
        srv.url("/ok")                     # 200 {"status": "ok"} after `delay`
        srv.requests                       # [(path, connection number), ...]
        srv.drop_reused = 1                # the next request that arrives on a reused
                                           # connection is read and the connection
                                           # closed without an answer (a server
                                           # closing an idle connection as a request
                                           # arrives); srv.reset = True makes that an RST

    with spawn(delay=0.001) as base_url:   # in a process of its own, so its CPU and
        ...                                # its GIL are not the measured process's

Routes (GET; anything else is /ok):
    /ok             200 application/json {"status": "ok"}, Content-Length, keep-alive
    /big?n=N        200, Content-Length N, N bytes, in one go
    /stall          200, Content-Length 1000, 10 bytes, then nothing until the client
                    hangs up (for a probe that times out mid-body)

`idle_close` (seconds): a connection idle that long is closed by the server, as most
servers do (Node's 5 s, Apache's 5 s, nginx's 75 s).
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

OK_BODY = json.dumps({"status": "ok"}).encode()
MAX_HEAD = 16 * 1024


class _Behaviour:
    """What the server does, changed by the test while it runs (one thread writes,
    the server's loop reads: plain attributes are enough)."""

    def __init__(self, delay: float, idle_close: float | None) -> None:
        self.delay = delay
        self.idle_close = idle_close
        self.drop_reused = 0
        self.reset = False
        self.requests: list[tuple[str, int]] = []
        self.closed: set[int] = set()  # connections that are over (either side closed)
        self.count = itertools.count(1)


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, b: _Behaviour) -> None:
    conn = next(b.count)
    served = 0
    try:
        while True:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), b.idle_close)
            except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split(" ")
            target = parts[1] if len(parts) > 1 else "/"
            url = urlsplit(target)
            b.requests.append((url.path, conn))
            if served and b.drop_reused > 0:
                b.drop_reused -= 1
                if b.reset:  # SO_LINGER 0: close() sends RST, not FIN
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            served += 1
            if b.delay:
                await asyncio.sleep(b.delay)
            if url.path == "/big":
                n = int(parse_qs(url.query).get("n", ["100000"])[0])
                writer.write(_head(n) + b"x" * n)
            elif url.path == "/stall":
                writer.write(_head(1000) + b'"xxxxxxxxx')
                await writer.drain()
                await reader.read()  # until the client hangs up
                return
            else:
                writer.write(_head(len(OK_BODY)) + OK_BODY)
            await writer.drain()
    except ConnectionError:
        return
    finally:
        b.closed.add(conn)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def _head(length: int) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % length
    )


class FastServer:
    """The server on 127.0.0.1:<free port>, its loop in a daemon thread."""

    def __init__(self, *, delay: float = 0.0, idle_close: float | None = None) -> None:
        self._b = _Behaviour(delay, idle_close)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="FastServer")
        self.port = 0

    # what the test changes or reads
    @property
    def requests(self) -> list[tuple[str, int]]:
        return self._b.requests

    @property
    def closed(self) -> set[int]:
        return self._b.closed

    @property
    def drop_reused(self) -> int:
        return self._b.drop_reused

    @drop_reused.setter
    def drop_reused(self, n: int) -> None:
        self._b.drop_reused = n

    @property
    def reset(self) -> bool:
        return self._b.reset

    @reset.setter
    def reset(self, value: bool) -> None:
        self._b.reset = value

    def url(self, path: str = "/ok") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(lambda r, w: _handle(r, w, self._b), "127.0.0.1", 0, limit=MAX_HEAD, backlog=512)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            # Connections still open end here, on this loop, not at garbage collection.
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(server.wait_closed())
            self._loop.close()

    def start(self) -> "FastServer":
        self._thread.start()
        self._ready.wait(5)
        return self

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> "FastServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def spawn(delay: float = 0.001):
    """The server in a process of its own; yields its base URL ("http://127.0.0.1:N")."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--delay", str(delay)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the fast server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def _main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--delay", type=float, default=0.001, help="seconds before each answer")
    args = ap.parse_args()
    srv = FastServer(delay=args.delay).start()
    print(f"PORT {srv.port}", flush=True)
    try:
        srv._thread.join()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    _main()
