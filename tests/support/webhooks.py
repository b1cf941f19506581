"""A webhook receiver on 127.0.0.1 for the alert tests and benchmark: it keeps every JSON
body POSTed to it, and can answer slowly (`delay`), with an error (`status`), or hold each
request until released (`hold`), so a test sees a pass finish while a delivery is held."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.delay = 0.0
        self.status = 200
        #: While set, each request waits until `release` (or 30 s) before it is answered.
        self.hold = threading.Event()
        self._released = threading.Event()
        #: Set while a request is held or delayed: the sender is still waiting on us.
        self.holding = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"null")
                receiver.holding.set()
                if receiver.hold.is_set():
                    receiver._released.wait(30)
                time.sleep(receiver.delay)
                status = receiver.status
                if status < 300:
                    with receiver._lock:
                        receiver.bodies.append(body)
                receiver.holding.clear()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"invalid_payload")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def release(self) -> None:
        self.hold.clear()
        self._released.set()

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.bodies)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The bodies once at least `count` arrived; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bodies = self.received()
            if len(bodies) >= count:
                return bodies
            time.sleep(0.02)
        raise AssertionError(f"{count} messages expected, {len(self.received())} arrived")

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


def closed_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: a receiver that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"
