"""A SIGHUP that reached `syncd run` before the daemon was up: noted by the executable's first
lines (`syncd.launch`) and acted on by the daemon, which therefore need not import the
executable that imports it. Nothing here may be heavy: it loads before the CLI does."""

from __future__ import annotations

import threading

#: Set by a SIGHUP that arrived before the daemon installed its own handlers.
EARLY_HANGUP = threading.Event()
