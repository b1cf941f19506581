"""Shared base of the sandbox emulators: a real HTTP server on 127.0.0.1 in a daemon thread.

The emulators are real servers (not mocks) so that the official clients -- facebook-business
over ``requests``, httpx for the Data Manager API -- run unchanged against them in the demo,
the end-to-end tests and the benchmarks. This module owns everything that is not a network's
rules: binding, threading, reading bodies, the front-end URL limit, the per-request latency
(see ``latency``), injected faults and a request log that tests can assert on. What a
network's ``handle`` takes and returns is in ``messages``.

The request log is built for a tool that must never leak PII: a record holds the method, the
path without its query string (the query carries access tokens and, for Meta removals, the
whole payload), the status, an operation name and a row count. Never a value.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from syncd.sandbox.latency import InFlight, Latency, LatencyControls
from syncd.sandbox.messages import Request, Response, frontend_error, json_response

__all__ = ["MAX_BODY_BYTES", "MAX_URL_BYTES", "EmulatorServer", "Fault", "RequestRecord"]

logger = logging.getLogger("syncd.sandbox")

#: Real front-ends (Graph's, Google's) refuse request targets of roughly 8 KB and more with
#: 414; the stdlib only refuses past 64 KB, so the emulators enforce the real figure.
MAX_URL_BYTES = 8 * 1024
#: Largest request body accepted. 10,000 members x 10 identifiers of hex hashes fit easily.
MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One handled request, as tests see it: counts only, never identifiers or tokens."""

    method: str
    path: str
    status: int
    operation: str = ""
    count: int = 0


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected misbehaviour, spent on one request. The fault tests of the sync loop use
    these to show that every fault a real network shows still ends in the exact audience.

    ``status``: answer with this error (and Retry-After) without touching the audience;
    ``reset``: close the connection without answering; ``delay``: answer late (past a
    client's timeout, the client gives up while the change may still land);
    ``malformed``: apply the change, then answer 200 with a body that is not JSON.
    """

    kind: str
    status: int = 503
    retry_after: float | None = None
    seconds: float = 0.0
    body: bytes | None = None

    @classmethod
    def error(
        cls, status: int, retry_after: float | None = None, body: bytes | None = None
    ) -> Fault:
        return cls("status", status=status, retry_after=retry_after, body=body)

    @classmethod
    def reset(cls) -> Fault:
        return cls("reset")

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        return cls("delay", seconds=seconds)

    @classmethod
    def malformed(cls) -> Fault:
        return cls("malformed")


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its emulator and can cut its open keep-alive sockets."""

    daemon_threads = True
    allow_reuse_address = True
    # The listen backlog: the stdlib's 5 makes a client that opens more connections at once
    # wait for SYN retries (a second or more) instead of being answered side by side.
    request_queue_size = 128

    def __init__(self, emulator: EmulatorServer, port: int) -> None:
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that hang up; log anything else without printing it."""
        logger.debug("sandbox connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Turns each HTTP request into a ``Request`` and writes the emulator's ``Response``."""

    # HTTP/1.1 keeps connections alive, as the real APIs do; every response has a length.
    protocol_version = "HTTP/1.1"
    # Headers and body are two writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK of the headers, about 40 ms per response on Linux.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib access log: its request line holds tokens and payloads."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes | None:
        """Read the body by Content-Length or chunked; None when it is over the limit."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        with self.server.emulator.in_flight:
            self._answer()

    def _answer(self) -> None:
        emulator = self.server.emulator
        split = urlsplit(self.path)
        try:
            body = self._read_body()
            refusal = frontend_error(413, "Request Entity Too Large")
        except ValueError:  # a malformed Content-Length or chunk size
            body, refusal = None, frontend_error(400, "Bad Request")
        if body is None:
            self.close_connection = True  # an unread body would be parsed as the next request
            response = refusal
        elif len(self.path.encode("latin-1", "replace")) > MAX_URL_BYTES:
            response = frontend_error(414, "Request-URI Too Large")
        else:
            query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
            request = Request(self.command, split.path, query, self.headers, body)
            fault = emulator._next_fault(split.path)
            if fault is not None and fault.kind == "reset":
                emulator._record(RequestRecord(self.command, split.path, 0, "fault:reset"))
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault is not None and fault.kind == "status":
                response = emulator.fault_response(fault)
            else:
                time.sleep(emulator.delay.draw() + (fault.seconds if fault else 0.0))
                response = emulator._handle_safely(request)
                if fault is not None and fault.kind == "malformed":
                    response = Response(200, b"<html>502 upstream hiccup</html>", "text/html")
        # Log before answering, so a client that has its response also sees the record.
        emulator._record(
            RequestRecord(
                self.command, split.path, response.status, response.operation, response.count
            )
        )
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body)


class EmulatorServer(LatencyControls):
    """Base of an emulator: binds 127.0.0.1:``port`` (0 = ephemeral) and serves in a thread.

    Subclasses implement ``handle`` (and ``internal_error_response`` in their network's shape)
    and guard their own state with ``self._lock``; handlers run on many threads at once, one
    per connection. Each answer waits ``delay.draw()`` first (``set_latency``; none by
    default), outside the lock, so requests in flight wait side by side; ``in_flight`` counts
    them.
    """

    def __init__(self, port: int = 0) -> None:
        self._requested_port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._lock = threading.RLock()
        self._faults: list[tuple[str, Fault]] = []
        self.delay = Latency()
        self.in_flight = InFlight()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a daemon thread; returns self so ``Emu().start()`` chains."""
        if self._httpd is not None:
            raise RuntimeError(f"{type(self).__name__} is already running at {self.base_url}")
        httpd = _HTTPServer(self, self._requested_port)
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{httpd.server_address[1]}",
            daemon=True,
        )
        self._httpd, self._thread = httpd, thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and cut open keep-alive connections."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with httpd.connections_lock:
            open_connections = list(httpd.connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start() if self._httpd is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is bound and serving."""
        return self._httpd is not None

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0)."""
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    # -- request log -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._log_lock:
            return list(self._log)

    def clear_requests(self) -> None:
        """Forget the request log (tests call it between phases)."""
        with self._log_lock:
            self._log.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._log_lock:
            self._log.append(record)
        logger.debug("sandbox %s", record)

    # -- fault injection ---------------------------------------------------------------------

    def inject(self, *faults: Fault, path: str = "") -> None:
        """Queue faults for the next requests whose path contains ``path``, one each."""
        with self._log_lock:
            self._faults.extend((path, fault) for fault in faults)

    def pending_faults(self) -> int:
        with self._log_lock:
            return len(self._faults)

    def _next_fault(self, path: str) -> Fault | None:
        with self._log_lock:
            for index, (fragment, fault) in enumerate(self._faults):
                if fragment in path:
                    del self._faults[index]
                    return fault
        return None

    def fault_response(self, fault: Fault) -> Response:
        """An injected error: the fault's body, or a generic one in ``{"error": ...}`` shape."""
        body = (
            fault.body
            or json.dumps({"error": {"code": fault.status, "message": "Injected fault."}}).encode()
        )
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        return Response(fault.status, body, headers=headers, operation="fault")

    def _handle_safely(self, request: Request) -> Response:
        try:
            return self.handle(request)
        except Exception:
            logger.exception("sandbox emulator failed on %s %s", request.method, request.path)
            return self.internal_error_response()

    # -- to implement ----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request. Runs on a handler thread; guard shared state with ``_lock``."""
        raise NotImplementedError

    def internal_error_response(self) -> Response:
        """The answer when ``handle`` raised: a 500 in the network's own error shape."""
        return json_response(500, {"error": {"code": 500, "message": "Internal error."}})
