"""The `syncd` executable's first lines, before the heavy imports.

Importing the CLI (DuckDB, Arrow, gRPC, the SDKs) takes a few hundred milliseconds, and
until a handler is installed SIGHUP ends the process. A daemon told to reload its config
that early must not die of it, so `syncd run` notes the signal here, first thing, and the
daemon reloads once it is up (`syncd.daemon`).
"""

from __future__ import annotations

import signal
import sys

from syncd.hangup import EARLY_HANGUP


def main() -> None:
    if "run" in sys.argv[1:] and hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: EARLY_HANGUP.set())
    from syncd.cli import main as cli

    cli()
