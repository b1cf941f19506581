"""A TCP proxy on 127.0.0.1 that can hold one connection back: how a test makes a
PostgreSQL cancel request (sent on a connection of its own) arrive late, at a moment the
test chooses, instead of within the microseconds the race takes in the wild."""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class HeldProxy:
    """Forwards every connection to `host`:`port` at once, except the first one opened
    after `hold_next()`, which is accepted but forwarded only on `release()`."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.holding = threading.Event()  # set once the held connection has come in
        self._hold = False
        self._released = threading.Event()
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def hold_next(self) -> None:
        self._hold = True

    def release(self) -> None:
        self._released.set()

    def __enter__(self) -> HeldProxy:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._released.set()
        for sock in self._sockets:
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            held, self._hold = self._hold, False
            threading.Thread(target=self._forward, args=(client, held), daemon=True).start()

    def _forward(self, client: socket.socket, held: bool) -> None:
        if held:
            self.holding.set()
            self._released.wait()
        upstream = socket.create_connection(self._target)
        self._sockets += [client, upstream]
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes one way until either side closes, then close the other's sending side."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        return
