"""`syncd run` as a subprocess the tests drive over HTTP and read through its JSON logs, for
every test that needs a live daemon rather than one pass in-process."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
from conftest import TOKEN, Workspace

#: A scheduled pass on a loaded CI machine can take tens of seconds; a hang takes forever.
DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    """Poll, because a subprocess's progress shows only in its logs and endpoints; `what` names
    the step in the failure, so a timeout says which step never came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class RunningDaemon:
    """A daemon on a free port, ready once /healthz answers; its stderr is kept in a file so a
    test can read the JSON logs after the process has gone."""

    def __init__(
        self,
        workspace: Workspace,
        name: str,
        env: dict[str, str] | None = None,
        *,
        wait: bool = True,
    ) -> None:
        """`wait=False` returns as soon as the process is started (a test that signals it
        during its start-up)."""
        self.port = free_port()
        self.log_path = workspace.root / f"{name}.log"
        config = str(workspace.root / "syncd.yaml")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "syncd",
                    "--log-level",
                    "info",
                    "run",
                    "--listen",
                    f"127.0.0.1:{self.port}",
                    config,
                ],
                env={"TEST_TOKEN": TOKEN, "PATH": "/usr/bin:/bin", **(env or {})},
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        if wait:
            wait_for(self.answers, "the health endpoint", timeout=20)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5)

    def answers(self) -> bool:
        try:
            return self.get("/healthz").status_code == 200
        except httpx.TransportError:
            assert self.process.poll() is None, self.log_path.read_text()
            return False

    def logs(self) -> list[dict]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)
