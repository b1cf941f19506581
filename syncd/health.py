"""The daemon's HTTP face: /healthz, /readyz and /metrics, on a small stdlib server.

/healthz answers while the process can answer at all (liveness: restart me if not).
/readyz says whether syncd is doing its job: a valid config is loaded, the state store
opens, no pass is stuck on a segment query past its timeout (one pass worker: a stuck pass
holds up every audience), and not every audience has been failing again and again. A
single failing audience does not make syncd unready: the others still sync, and the
failure shows in /metrics.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from syncd.metrics import REGISTRY
from syncd.sources.watch import overdue_reads

log = logging.getLogger(__name__)


class Health:
    """What /readyz reports, updated by the daemon as it loads configs and runs passes."""

    def __init__(self, unready_after_failures: int) -> None:
        self._lock = threading.Lock()
        self.unready_after_failures = unready_after_failures
        self._config_loaded = False
        self._state_problem: str | None = "not opened yet"
        self._failures: dict[str, int] = defaultdict(int)
        self._audiences: set[str] = set()

    def config_loaded(self, audiences: set[str], unready_after_failures: int) -> None:
        with self._lock:
            self._config_loaded = True
            self._audiences = set(audiences)
            self.unready_after_failures = unready_after_failures

    def state_checked(self, problem: str | None) -> None:
        with self._lock:
            self._state_problem = problem

    def pass_finished(self, audience: str, status: str) -> None:
        with self._lock:
            if status in ("failed", "refused"):
                self._failures[audience] += 1
            elif status in ("ok", "skipped"):
                self._failures[audience] = 0

    def problems(self) -> list[str]:
        """Why syncd is not ready; empty when it is."""
        with self._lock:
            problems = []
            if not self._config_loaded:
                problems.append("no valid config loaded")
            if self._state_problem:
                problems.append(f"state store: {self._state_problem}")
            limit = self.unready_after_failures
            if self._audiences and all(self._failures[a] >= limit for a in self._audiences):
                problems.append(f"every audience failed its last {limit} passes")
        problems += [f"a pass is stuck: {read}" for read in overdue_reads()]
        return problems


class HealthServer:
    """Serves Health and the metrics registry on `host:port` in a daemon thread."""

    def __init__(self, health: Health, host: str, port: int) -> None:
        handler = type("Handler", (_Handler,), {"health": health})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="syncd-health", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    health: Health

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._answer(200, b"ok\n")
        elif self.path == "/readyz":
            problems = self.health.problems()
            body = ("\n".join(problems) or "ready") + "\n"
            self._answer(503 if problems else 200, body.encode())
        elif self.path == "/metrics":
            self._answer(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        else:
            self._answer(404, b"not found: try /healthz, /readyz or /metrics\n")

    def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("health %s", format % args)
