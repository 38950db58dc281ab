"""Misbehaving HTTP endpoints on real 127.0.0.1 sockets, for tests of anything that
talks HTTP to a target (probes, PromQL, Alertmanager).

    with FaultServer() as srv:
        srv.url("/ok")            # 200 {"status": "ok"}
        srv.url("/status/503")    # 503
        srv.url("/huge")          # 50 MB, chunked, 64 KiB at a time
        srv.stats["/huge"].sent   # how many body bytes the server managed to send

Routes (GET):
    /ok                 200 application/json {"status": "ok"}
    /json?status=X      200 application/json {"status": X}
    /status/<code>      <code> application/json {"status": "error"} (204, 304: no body)
    /junk-json          200 application/json, an HTML error page
    /binary             200 application/octet-stream, bytes that are not UTF-8
    /text               200 text/plain "OK"
    /empty              200, no body
    /redirect           302 to /ok
    /huge               200, 50 MB of JSON-ish bytes, chunked (no Content-Length)
    /huge-declared      200, Content-Length 50 MB, then the bytes
    /sleep?s=N          waits N seconds before answering 200 (released early on close)
    /drip?s=N           200 headers at once, then one body byte every 0.1 s for N s
    /echo-auth          200 {"status": "ok", "authorization": <the header or null>}

`FaultServer(ssl_context=...)` serves the same routes over TLS; `self_signed_context()`
makes a server context from a throwaway self-signed certificate (needs `openssl`).

Raw sockets for faults below HTTP: `closing_port()` (accepts, then closes cleanly),
`resetting_port()` (accepts, then resets with RST), `refused_port()` (nothing there),
`full_backlog_port()` (listening but never accepting, so connecting hangs).
"""
from __future__ import annotations

import contextlib
import json
import socket
import ssl
import struct
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HUGE_BYTES = 50 * 1024 * 1024
CHUNK = 64 * 1024


@dataclass
class RouteStats:
    hits: int = 0
    sent: int = 0  # body bytes written to the socket
    finished: bool = False  # the whole body was sent
    done: bool = False  # the handler has returned (after the client hung up, say)
    authorization: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # of the last request


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *a):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        stats = self.server.stats[path]
        stats.hits += 1
        stats.done = False
        stats.authorization = self.headers.get("Authorization")
        stats.headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            self._route(path, query, stats)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True  # the client hung up: expected for cut-offs
        finally:
            stats.done = True

    def _send(self, code: int, body: bytes = b"", ctype: str | None = "application/json", extra=()):
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _json(self, code: int, doc) -> None:
        self._send(code, json.dumps(doc).encode())

    def _route(self, path: str, query: dict, stats: RouteStats) -> None:
        q = lambda k, d: query.get(k, [d])[0]  # noqa: E731
        if path == "/ok":
            self._json(200, {"status": "ok"})
        elif path == "/json":
            self._json(200, {"status": q("status", "ok")})
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            if code in (204, 304):
                self.send_response(code)
                self.end_headers()
            else:
                self._json(code, {"status": "error"})
        elif path == "/junk-json":
            self._send(200, b"<html><body>502 Bad Gateway</body></html>")
        elif path == "/binary":
            self._send(200, b"\xff\xfe\x00\x81garbage\xc3\x28", ctype="application/octet-stream")
        elif path == "/text":
            self._send(200, b"OK", ctype="text/plain")
        elif path == "/empty":
            self._send(200, b"", ctype=None)
        elif path == "/redirect":
            self._send(302, b"", ctype=None, extra=[("Location", "/ok")])
        elif path in ("/huge", "/huge-declared"):
            self._huge(stats, declared=path == "/huge-declared")
        elif path == "/sleep":
            self.server.released.wait(float(q("s", "5")))
            self._json(200, {"status": "ok"})
        elif path == "/drip":
            self._drip(float(q("s", "5")), stats)
        elif path == "/echo-auth":
            self._json(200, {"status": "ok", "authorization": stats.authorization})
        else:
            self._json(404, {"status": "no such route"})

    def _huge(self, stats: RouteStats, *, declared: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if declared:
            self.send_header("Content-Length", str(HUGE_BYTES))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        block = b"[" + b"0," * (CHUNK // 2 - 1) + b"0"  # CHUNK bytes
        sent = 0
        while sent < HUGE_BYTES and not self.server.released.is_set():
            n = min(CHUNK, HUGE_BYTES - sent)
            data = block[:n]
            if declared:
                self.wfile.write(data)
            else:
                self.wfile.write(b"%x\r\n%s\r\n" % (n, data))
            sent += n
            stats.sent = sent
        if not declared:
            self.wfile.write(b"0\r\n\r\n")
        stats.finished = sent >= HUGE_BYTES

    def _drip(self, seconds: float, stats: RouteStats) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.server.released.is_set():
            self.wfile.write(b"1\r\nx\r\n")
            self.wfile.flush()
            stats.sent += 1
            time.sleep(0.1)
        self.wfile.write(b"0\r\n\r\n")
        stats.finished = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many probes at once must not hit a full backlog
    stats: defaultdict[str, RouteStats]
    released: threading.Event

    def server_bind(self) -> None:
        # A small send buffer (inherited by accepted sockets) keeps "how much did the
        # server manage to send" a close bound on how much the client read.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CHUNK)
        super().server_bind()

    def handle_error(self, request, client_address):  # a client hanging up is not news
        pass


class FaultServer:
    """A threaded HTTP server on 127.0.0.1:<free port> with misbehaving routes."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self.scheme = "https" if ssl_context else "http"
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        self._server.stats = defaultdict(RouteStats)
        self._server.released = threading.Event()
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="FaultServer"
        )

    @property
    def stats(self) -> defaultdict[str, RouteStats]:
        return self._server.stats

    def url(self, path: str = "/ok", *, userinfo: str = "") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"{self.scheme}://{at}127.0.0.1:{self.port}{path}"

    def start(self) -> "FaultServer":
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.released.set()  # wake sleeping / dripping / streaming handlers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "FaultServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


# -- raw sockets ---------------------------------------------------------------------


class RawPort:
    """A listening socket on 127.0.0.1 whose accept loop misbehaves in one way."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.accepted = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        if behaviour == "full-backlog":
            self._sock.listen(0)
            self._fill_backlog()
            self._thread = None
        else:
            self._sock.listen(16)
            self._sock.settimeout(0.05)
            self._thread = threading.Thread(target=self._serve, daemon=True, name=f"RawPort-{behaviour}")
            self._thread.start()

    def url(self, path: str = "/health") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            if self.behaviour == "reset":
                # SO_LINGER with a zero timeout: close() sends RST, not FIN.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                with contextlib.suppress(OSError):
                    conn.recv(65536)  # wait for the request, then reset
            conn.close()

    def _fill_backlog(self) -> None:
        # Nobody ever accepts; once the accept queue is full the kernel drops new SYNs
        # and a client's connect() hangs until its own timeout.
        for _ in range(8):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            with contextlib.suppress(BlockingIOError, OSError):
                c.connect(("127.0.0.1", self.port))
            self._held.append(c)
        time.sleep(0.05)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for c in self._held:
            c.close()
        self._sock.close()

    def __enter__(self) -> "RawPort":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def closing_port() -> RawPort:
    """Accepts each connection and closes it at once, before any response."""
    return RawPort("close")


def resetting_port() -> RawPort:
    """Accepts each connection, reads the request, then resets it (RST)."""
    return RawPort("reset")


def full_backlog_port() -> RawPort:
    """Listens but never accepts, with its queue full: connecting hangs."""
    return RawPort("full-backlog")


def refused_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then closed)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def self_signed_context(directory) -> ssl.SSLContext:
    """A TLS server context with a fresh self-signed certificate for 127.0.0.1 (made
    with the openssl command line tool, into `directory`)."""
    import subprocess
    from pathlib import Path

    cert, key = Path(directory) / "cert.pem", Path(directory) / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx
