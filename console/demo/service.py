"""The simulated service that `gonogo demo` probes.

A small HTTP server on 127.0.0.1 (stdlib ``ThreadingHTTPServer`` in a daemon thread)
with five health endpoints and a Prometheus ``/metrics``, whose answers look like a
real service's: a little latency noise and a very rare error, so the gates look
believable but stay green. The console's demo keys inject faults into it
(:meth:`SimulatedService.inject`) and show :meth:`SimulatedService.describe` in the
status line.

Routes (GET; HEAD answers the same without a body):

``/health/<component>``
    200 ``{"status": "ok", "component": ..., "version": ...}`` (application/json)
    after 40-120 ms (lognormal, ~1 % of answers take ~250 ms); about 0.02 % of
    answers are a 500. An unknown component is a 404.
``/health``
    the whole service: 200 when every component is up, 503 otherwise.
``/metrics``
    Prometheus text from a registry of the service's own: ``demo_http_requests_total
    {component,code}``, ``demo_http_request_duration_seconds{component}`` and
    ``demo_fault{kind}`` (1 for the fault in force, 0 for the others).
``/``
    a short plain-text description.

Faults (take effect for the next request; thread-safe):

``"errors"``   about 5 % of health answers are 503 ``{"status": "error"}``;
``"latency"``  every health answer takes 550-900 ms;
``"outage"``   one component (``billing`` by default) answers 503 ``{"status": "down"}``;
``"down"``     every health answer is 503 ``{"status": "down"}``;
``None``       back to normal.

Randomness is seedable. Each health request draws exactly one number from the error
stream, whatever the fault, so with a seed the number of errors among N requests is
the same on every run, even when the requests run concurrently.

Nothing is ever written to stdout or stderr (it would corrupt the terminal UI):
request logging and the server's error tracebacks are silenced; server errors go
to the ``gonogo.demo`` logger at debug level.
"""
from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from collections.abc import Iterable
from statistics import NormalDist
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger("gonogo.demo")

DEFAULT_COMPONENTS = ("api", "auth", "billing", "search", "worker")
FAULT_KINDS = ("errors", "latency", "outage", "down")

# Normal noise: lognormal around 70 ms (5th-95th percentile ~43-114 ms), clamped to
# 30-180 ms; a 1 % tail of ~250 ms (200-270 ms). P95 stays well under the 200 ms gate.
LATENCY_MEDIAN_S = 0.070
LATENCY_SIGMA = 0.3
LATENCY_CLAMP_S = (0.030, 0.180)
SPIKE_PROBABILITY = 0.01
SPIKE_RANGE_S = (0.200, 0.270)
BACKGROUND_ERROR_RATE = 0.0002  # 0.02 %: a 500 now and then, below the 0.1 % gate
# Faults.
FAULT_ERROR_RATE = 0.05
FAULT_LATENCY_RANGE_S = (0.550, 0.900)

_STD_NORMAL = NormalDist()
_BUCKETS = (0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # ThreadingMixIn joins every handler thread on server_close() unless told not to:
    # a request sleeping through a latency fault must not hold up stop().
    block_on_close = False
    service: SimulatedService

    def handle_error(self, request, client_address) -> None:  # quiet: never print a traceback
        log.debug("demo service: error handling a request from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0: one request per connection, so a stopped service answers nothing more
    # (a kept-alive connection would keep its handler thread serving after stop()).
    protocol_version = "HTTP/1.0"
    server_version = "gonogo-demo"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802
        self._serve(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(body=False)

    def _serve(self, *, body: bool) -> None:
        try:
            status, ctype, payload = self.server.service._answer(urlsplit(self.path).path)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if body:
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the prober gave up (its timeout): fine
            pass

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet: no request log on stderr
        pass


class ServiceAddress:
    """Where a simulated service answers, from its `host` and `port`: the in-process
    SimulatedService and the child process's handle (process.ServiceProcess) alike."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8080``."""
        return f"http://{self.host}:{self.port}"

    def health_url(self, component: str) -> str:
        return f"{self.url}/health/{component}"


class SimulatedService(ServiceAddress):
    """The demo's service: health endpoints, ``/metrics`` and injectable faults.

    >>> svc = SimulatedService(seed=1)
    >>> port = svc.start()          # 0: a free port
    >>> svc.inject("latency")       # the next health answers take 550-900 ms
    >>> svc.describe()
    'fault: latency spike (responses 550-900 ms)'
    >>> svc.stop()
    """

    def __init__(
        self,
        components: Iterable[str] = DEFAULT_COMPONENTS,
        *,
        seed: int | None = None,
        version: str = "1.8.0",
        outage_component: str | None = None,
        background_error_rate: float = BACKGROUND_ERROR_RATE,
        host: str = "127.0.0.1",
    ) -> None:
        self.components: tuple[str, ...] = tuple(dict.fromkeys(components))
        if not self.components:
            raise ValueError("the simulated service needs at least one component")
        if outage_component is None:
            outage_component = "billing" if "billing" in self.components else self.components[-1]
        if outage_component not in self.components:
            raise ValueError(f"outage component {outage_component!r} is not one of {', '.join(self.components)}")
        self.version = version
        self.host = host
        self.background_error_rate = background_error_rate
        self._outage_default = outage_component
        self._outage = outage_component
        self._fault: str | None = None
        self._lock = threading.Lock()
        # Two streams: the error stream gets exactly one draw per health request, so
        # error counts are reproducible under a seed whatever the request order.
        self._err_rng = random.Random(seed)
        self._lat_rng = random.Random(None if seed is None else seed + 1_000_003)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "demo_http_requests", "Requests answered by the demo service, by component and status code.",
            ["component", "code"], registry=self.registry,
        )
        self._latency = Histogram(
            "demo_http_request_duration_seconds", "Time the demo service took to answer a health request.",
            ["component"], buckets=_BUCKETS, registry=self.registry,
        )
        self._fault_gauge = Gauge(
            "demo_fault", "The fault injected into the demo service (1: in force).", ["kind"], registry=self.registry,
        )
        for c in self.components:  # every series exists from the start (rate() works from the first scrape)
            self._requests.labels(c, "200")
            self._latency.labels(c)
        self._set_fault_gauge(None)

    # -- lifecycle ---------------------------------------------------------------

    def start(self, port: int = 0) -> int:
        """Listen on ``host:port`` (0: a free port) and serve in a daemon thread; returns the port."""
        if self._server is not None:
            raise RuntimeError(f"the simulated service is already running on port {self.port}")
        server = _Server((self.host, port), _Handler)
        server.service = self
        # The poll interval is how soon stop() is heard, and how often an idle thread
        # wakes: at 0.05 s the idle service cost 4x what it does at 0.2 s (bench/engine_idle.py).
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="gonogo-demo-service", daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread
        return self.port

    def stop(self) -> None:
        """Stop serving, close the listening socket and join the server thread.

        Prompt (well under a second) even with requests in flight: their handler
        threads are daemons and are not waited for. Calling it twice is harmless."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulated service is not running")
        return int(self._server.server_address[1])

    def __enter__(self) -> SimulatedService:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- faults ------------------------------------------------------------------

    def inject(self, kind: str | None, *, component: str | None = None) -> None:
        """Inject a fault (``"errors"``, ``"latency"``, ``"outage"``, ``"down"``) or clear it
        (``None``). ``component`` picks the outage's victim (default: ``billing``).
        Takes effect for the next request; safe to call from any thread."""
        if kind is not None and kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}: expected one of {', '.join(FAULT_KINDS)} or None")
        if component is not None:
            if kind != "outage":
                raise ValueError("only the 'outage' fault takes a component")
            if component not in self.components:
                raise ValueError(f"unknown component {component!r}: expected one of {', '.join(self.components)}")
        with self._lock:
            self._fault = kind
            self._outage = component or self._outage_default
            self._set_fault_gauge(kind)

    @property
    def fault(self) -> str | None:
        """The fault in force, or None."""
        with self._lock:
            return self._fault

    @property
    def outage_component(self) -> str:
        with self._lock:
            return self._outage

    def describe(self) -> str:
        """One line for the status line, e.g. ``fault: latency spike (responses 550-900 ms)``."""
        with self._lock:
            kind, victim = self._fault, self._outage
        if kind == "errors":
            return f"fault: error spike (~{FAULT_ERROR_RATE * 100:g} % of health checks answer 503)"
        if kind == "latency":
            lo, hi = (round(x * 1000) for x in FAULT_LATENCY_RANGE_S)
            return f"fault: latency spike (responses {lo}-{hi} ms)"
        if kind == "outage":
            return f"fault: {victim} outage (/health/{victim} answers 503, the others are normal)"
        if kind == "down":
            return "fault: all down (every health check answers 503)"
        return "fault: none (service healthy: 40-120 ms, rare errors)"

    def _set_fault_gauge(self, kind: str | None) -> None:
        for k in ("none", *FAULT_KINDS):
            self._fault_gauge.labels(k).set(1 if k == (kind or "none") else 0)

    # -- answering ---------------------------------------------------------------

    def _answer(self, path: str) -> tuple[int, str, bytes]:
        """Status, content type and body for one request (sleeps for health latency)."""
        path = "/" + path.strip("/")
        if path == "/metrics":
            self._requests.labels("metrics", "200").inc()
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
        if path == "/":
            self._requests.labels("other", "200").inc()
            return 200, "text/plain; charset=utf-8", self._index().encode()
        if path == "/health" or path.startswith("/health/"):
            name = path[len("/health/"):] if path != "/health" else None
            if name is not None and name not in self.components:
                self._requests.labels("unknown", "404").inc()
                return 404, "application/json", _json({"status": "not_found", "component": name})
            return self._health(name)
        self._requests.labels("other", "404").inc()
        return 404, "text/plain; charset=utf-8", b"not found: try / for the routes\n"

    def _health(self, name: str | None) -> tuple[int, str, bytes]:
        started = time.perf_counter()
        with self._lock:
            fault, victim = self._fault, self._outage
            u = self._err_rng.random()  # exactly one draw per health request
            delay = self._draw_latency(fault)
        label = name or "service"
        if fault == "down" or (fault == "outage" and name in (victim, None)):
            status = 503
            if name:
                doc = {"status": "down", "component": name}
            elif fault == "down":
                doc = {"status": "down", "component": label, "down": list(self.components)}
            else:
                doc = {"status": "degraded", "component": label, "down": [victim]}
        elif fault == "errors" and u < FAULT_ERROR_RATE:
            status, doc = 503, {"status": "error", "component": label, "error": "upstream request failed"}
        elif u >= 1.0 - self.background_error_rate:
            status, doc = 500, {"status": "error", "component": label, "error": "internal error"}
        else:
            status, doc = 200, {"status": "ok", "component": label, "version": self.version}
            if not name:
                doc["components"] = list(self.components)
        time.sleep(delay)
        self._requests.labels(label, str(status)).inc()
        self._latency.labels(label).observe(time.perf_counter() - started)
        return status, "application/json", _json(doc)

    def _draw_latency(self, fault: str | None) -> float:
        rng = self._lat_rng
        # Always two draws, whatever the branch, so the streams stay aligned under a seed.
        a, b = rng.random(), rng.random()
        if fault == "latency":
            lo, hi = FAULT_LATENCY_RANGE_S
            return lo + (hi - lo) * a
        if a < SPIKE_PROBABILITY:
            lo, hi = SPIKE_RANGE_S
            return lo + (hi - lo) * b
        # Lognormal via the inverse normal CDF of b (one draw, no rejection loop).
        z = _STD_NORMAL.inv_cdf(min(max(b, 1e-9), 1 - 1e-9))
        lo, hi = LATENCY_CLAMP_S
        return min(max(LATENCY_MEDIAN_S * math.exp(LATENCY_SIGMA * z), lo), hi)

    def _index(self) -> str:
        comps = ", ".join(self.components)
        return (
            "gonogo demo: a simulated service for `gonogo demo`.\n"
            f"GET /health/<component>   JSON health of one of: {comps}\n"
            "GET /health               the whole service\n"
            "GET /metrics              Prometheus metrics\n"
            f"{self.describe()}\n"
        )


def _json(doc: dict) -> bytes:
    return json.dumps(doc).encode()
