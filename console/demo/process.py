"""The demo's simulated service in a process of its own, and the console's handle on it.

`gonogo demo` used to run :class:`~console.demo.service.SimulatedService` in the
console's process. Two costs came with that: the service's threads woke the console's
interpreter at idle (1.00 % of a core against 0.74 % apart, bench/console_startup_idle.py),
and a probe's answer waited for the GIL while the console rendered, so the demo showed
the console's own drawing as the service's latency. Here the service runs in a child
(``python -m console.demo.process SPEC``), and :class:`ServiceProcess` is what the
parent holds: the same ``inject``, ``describe``, ``fault``, ``port`` and ``stop``.

The control channel is the child's stdin and stdout: one JSON object a line each way,
an answer for every request, in order. Why a pipe and not an HTTP control route on the
service: the pipe is private to the console (a route on 127.0.0.1 would let anyone on
the machine inject faults, and would show up in the service's own request counters),
and its end is the signal the child needs anyway: when the console goes, even by
``kill -9``, the kernel closes the pipe, the child reads end-of-file and exits.

The wire::

    child, once listening:  {"port": 8080, "components": ["api", ...]}   (or {"error": "..."})
    parent:                 {"id": 1, "op": "inject", "kind": "down", "component": null}
    child:                  {"id": 1, "ok": true, "result": null}         (or {"id": 1, "error": "..."})

``op`` is one of ``inject``, ``describe``, ``fault``, ``outage_component``, ``stop``.
An answer is written after the child applied the request, so ``inject`` returning means
the next probe sees the fault. End-of-file on stdin is the same as ``stop``.

The child's stdout carries nothing but answers: at start it keeps fd 1 for itself and
points fd 1 at its stderr, which the parent gives a log file or /dev/null, never the
terminal. It runs in a session of its own, so a Ctrl-C at the terminal reaches only the
console, which stops it in order.

POSIX only (``select`` on a pipe), as the embedded PostgreSQL and tmux-driven demo are.
"""
from __future__ import annotations

import itertools
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .service import ServiceAddress

READY_TIMEOUT = 20.0  # seconds for the child to import and listen (it overlaps the database's start)
REQUEST_TIMEOUT = 3.0  # seconds for one answer; the child answers in well under a millisecond
STOP_TIMEOUT = 5.0  # seconds stop() waits for the child to exit before it kills it
# The package root (the folder holding `console/`): the child runs from it, so `-m` imports
# this very checkout, whatever the console's own working directory is.
_ROOT = Path(__file__).resolve().parents[2]


class ServiceUnavailable(RuntimeError):
    """The child is gone, did not start, or did not answer in time."""


class ServiceProcess(ServiceAddress):
    """The simulated service in a child process: what `gonogo demo` and the demo keys use.

    >>> svc = ServiceProcess(["api", "billing"], seed=1).start(0)   # returns at once
    >>> svc.port                        # waits for the child to listen
    40123
    >>> svc.inject("down")              # returns once the child applied it
    >>> svc.stop()                      # waits for the child (bounded), kills it if need be
    """

    def __init__(
        self,
        components: Iterable[str] | None = None,
        *,
        seed: int | None = None,
        outage_component: str | None = None,
        background_error_rate: float | None = None,
        host: str = "127.0.0.1",
        log: Path | None = None,
    ) -> None:
        # Only what is given is sent: the child's SimulatedService keeps its own defaults
        # (and the parent need not import it, nor prometheus_client).
        spec: dict[str, Any] = {"host": host}
        if components is not None:
            spec["components"] = list(components)
        if seed is not None:
            spec["seed"] = seed
        if outage_component is not None:
            spec["outage_component"] = outage_component
        if background_error_rate is not None:
            spec["background_error_rate"] = background_error_rate
        self._spec = spec
        self.host = host
        self.log = log  # where the child's stderr goes (appended); None: /dev/null
        self.components: tuple[str, ...] = tuple(spec.get("components", ()))
        self._proc: subprocess.Popen | None = None
        self._port: int | None = None
        self._buf = b""
        self._ids = itertools.count(1)
        # One request on the pipe at a time (the UI thread, `n`'s worker); stop() takes it too,
        # so it never closes the pipe under a request. Re-entrant: wait_ready() stops on failure.
        self._lock = threading.RLock()

    # -- lifecycle ---------------------------------------------------------------

    def start(self, port: int = 0) -> ServiceProcess:
        """Start the child, which listens on ``port`` if it is free, else on any free
        port. Returns at once: the child imports and binds while the caller does other
        work; :attr:`port` (or :meth:`wait_ready`) waits for it."""
        if self._proc is not None:
            raise RuntimeError("the simulated service's process is already started")
        spec = json.dumps({**self._spec, "port": int(port)})
        self._port, self._buf = None, b""  # a restart after stop() listens anew
        err = self._open_log()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "console.demo.process", spec],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                cwd=_ROOT, close_fds=True,
                start_new_session=True,  # no terminal signals: the console alone decides when it stops
            )
        finally:
            if err is not subprocess.DEVNULL:
                err.close()  # the child has its own copy
        return self

    def _open_log(self):
        if self.log is None:
            return subprocess.DEVNULL
        try:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            return open(self.log, "ab")  # noqa: SIM115 - handed to the child, closed after Popen
        except OSError:
            return subprocess.DEVNULL

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> int:
        """The port the child listens on, once it does (at most ``timeout`` seconds)."""
        if self._port is not None:
            return self._port
        with self._lock:
            if self._port is None:
                hello = self._read(time.monotonic() + timeout, what="start")
                if "error" in hello:
                    self.stop()
                    raise ServiceUnavailable(f"the simulated service did not start: {hello['error']}")
                self._port = int(hello["port"])
                self.components = tuple(hello.get("components", self.components))
        return self._port

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Close the child's stdin (it stops serving and exits), wait for it at most
        ``timeout`` seconds, and kill it if it has not gone. Once it returns the port is
        free. Calling it twice is harmless."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
        except OSError:  # a child already gone: the pipe is broken
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
        proc.stdout.close()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def port(self) -> int:
        return self.wait_ready()

    def __enter__(self) -> ServiceProcess:
        if self._proc is None:
            self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what the demo keys reach ------------------------------------------------

    def inject(self, kind: str | None, *, component: str | None = None) -> None:
        """As :meth:`SimulatedService.inject`; returns once the child has applied it.
        A bad fault or component raises ValueError, as in process."""
        self._ask("inject", kind=kind, component=component)

    def describe(self) -> str:
        return self._ask("describe")

    @property
    def fault(self) -> str | None:
        return self._ask("fault")

    @property
    def outage_component(self) -> str:
        return self._ask("outage_component")

    # -- the pipe ----------------------------------------------------------------

    def _ask(self, op: str, **args) -> Any:
        self.wait_ready()
        with self._lock:
            proc = self._proc
            if proc is None:
                raise ServiceUnavailable("the simulated service is stopped")
            rid = next(self._ids)
            try:
                proc.stdin.write(json.dumps({"id": rid, "op": op, **args}).encode() + b"\n")
                proc.stdin.flush()
            except (OSError, ValueError) as e:  # broken pipe, or closed by stop() meanwhile
                raise ServiceUnavailable(f"the simulated service has gone ({self._exit_said(proc)})") from e
            deadline = time.monotonic() + REQUEST_TIMEOUT
            while True:
                answer = self._read(deadline, what=op)
                if answer.get("id") == rid:  # an earlier request's late answer is skipped
                    break
        if "error" in answer:
            raise ValueError(answer["error"])
        return answer.get("result")

    def _read(self, deadline: float, *, what: str) -> dict:
        """The child's next line as a dict; waits until ``deadline`` (monotonic)."""
        proc = self._proc
        if proc is None:
            raise ServiceUnavailable("the simulated service is stopped")
        fd = proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise ServiceUnavailable(f"the simulated service did not answer ({what}) in time")
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise ServiceUnavailable(f"the simulated service has gone ({self._exit_said(proc)})")
                self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        try:
            doc = json.loads(line)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise ServiceUnavailable("the simulated service answered something that is not an answer")
        return doc

    def _exit_said(self, proc: subprocess.Popen) -> str:
        try:
            code = proc.wait(0.5)
        except subprocess.TimeoutExpired:
            return "still running, not answering"
        # The log's name only: the message reaches the screen, and the data directory's
        # path comes from the config (outside text).
        where = f"; its last words are in {self.log.name}" if self.log is not None else ""
        return f"exit code {code}{where}"


# -- the child ---------------------------------------------------------------------


def _child(spec_json: str) -> int:
    """The child's whole life: listen, say the port, answer requests until stdin ends."""
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # a stray print (ours or a library's) goes to the log, never into the answers

    import logging
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the console stops us, through the pipe
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s[demo service %(process)d]: %(message)s")

    def say(doc: dict) -> None:
        answers.write(json.dumps(doc) + "\n")

    from .service import SimulatedService

    try:
        spec = json.loads(spec_json)
        wanted = int(spec.pop("port", 0))
        svc = SimulatedService(**spec)
        try:
            port = svc.start(wanted)
        except OSError:
            if not wanted:
                raise
            port = svc.start(0)  # the config's port is taken (another demo): any free one
    except Exception as e:  # noqa: BLE001 - said to the parent, which raises it
        say({"error": f"{type(e).__name__}: {e}"})
        return 1
    try:
        say({"port": port, "components": list(svc.components)})
        for raw in sys.stdin.buffer:  # blocks; end-of-file when the console stops or dies
            try:
                req = json.loads(raw)
                op, rid = req["op"], req.get("id")
            except (ValueError, KeyError, TypeError):
                continue  # not a request: nothing to answer
            if op == "stop":
                say({"id": rid, "ok": True, "result": None})
                break
            try:
                say({"id": rid, "ok": True, "result": _do(svc, op, req)})
            except (ValueError, TypeError) as e:
                say({"id": rid, "error": str(e)})
    except BrokenPipeError:  # the console went between a request and its answer: nothing to say
        try:
            answers.close()
        except OSError:
            pass
    finally:
        svc.stop()
    return 0


def _do(svc, op: str, req: dict) -> Any:
    if op == "inject":
        svc.inject(req.get("kind"), component=req.get("component"))
        return None
    if op == "describe":
        return svc.describe()
    if op == "fault":
        return svc.fault
    if op == "outage_component":
        return svc.outage_component
    raise ValueError(f"unknown request {op!r}")


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1] if len(sys.argv) > 1 else "{}"))
