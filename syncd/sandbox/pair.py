"""`Sandbox`: the Meta and Data Manager emulators started and stopped together, the tests' and
benchmarks' shorthand for the two most of them sync to. The demo and `syncd sandbox` start
every registered network's emulator through the registry instead (`syncd.demo.emulators`)."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Self

from syncd.destinations.google.sandbox.data_manager import DataManagerEmulator
from syncd.destinations.meta.sandbox import MetaGraphEmulator


class Sandbox:
    """The Meta and Data Manager emulators, started and stopped together: ``.meta`` and
    ``.google``. A convenience for the many tests that sync to those two; the demo and
    ``syncd sandbox`` start every network's emulator through the registry instead.

    Ports default to 0 (ephemeral); read the real ones from ``.meta.base_url`` and
    ``.google.base_url`` once started.
    """

    def __init__(
        self,
        *,
        meta_port: int = 0,
        google_port: int = 0,
        meta_audiences: Iterable[str] = (),
        google_user_lists: Iterable[str] = (),
        meta_access_token: str | None = None,
        google_access_token: str | None = None,
    ) -> None:
        self.meta = MetaGraphEmulator(meta_audiences, meta_access_token, meta_port)
        self.google = DataManagerEmulator(google_user_lists, google_access_token, google_port)

    def set_latency(self, seconds: float, jitter: float = 0.0, *, seed: int = 0) -> None:
        """Answer every request of both after ``seconds`` plus up to ``jitter`` more (each
        emulator draws its own seeded sequence)."""
        self.meta.set_latency(seconds, jitter, seed=seed)
        self.google.set_latency(seconds, jitter, seed=seed + 1)

    def start(self) -> Self:
        """Start both emulators; if the second cannot bind, the first is stopped again."""
        self.meta.start()
        try:
            self.google.start()
        except BaseException:
            self.meta.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both emulators (a no-op for one that is not running)."""
        try:
            self.google.stop()
        finally:
            self.meta.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
