"""The audiences one pass may write: each one's lease taken, what a dead pass left of it
recovered, and the lease renewed for as long as the pass runs.

A pass claims every audience before it reads a segment, because reading compares rows with
what the audience holds (fingerprints), and that must see the state after recovery, never
the staged rows of a pass that died. An audience whose lease another live process holds is
left alone: that process is pushing it now, and recovering its batches in flight would
undo its work.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from syncd.state import AudienceRef, StateStore
from syncd.targets import Target

log = logging.getLogger("syncd")


def process_name() -> str:
    """Who holds a lease or ran a pass: the pod (host), the process, a nonce, and the
    process's PID namespace (so `_dead` never judges a process it cannot see)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}:{_pid_namespace()}"


def lease_name(audience: AudienceRef) -> str:
    """What a lease is taken on: the audience as the state keys it (network account and
    id), not its config name, so two names for one audience (a rename during a rolling
    update) still exclude each other."""
    return f"{audience.destination}/{audience.audience_id}"


def _boot_id() -> str:
    """This boot of this machine (Linux): a host name and a PID namespace's inode repeat
    across machines (cloned VMs, the initial namespace's fixed inode)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            return boot.read().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    """This boot and the PID namespace's inode on Linux (containers of one pod share a
    host name, not their PIDs); empty elsewhere."""
    try:
        inode = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return ""
    boot = _boot_id()
    return f"{boot}.{inode}" if boot else ""


def _dead(holder: str) -> bool:
    """Whether `holder` names a process of this host and PID namespace that has ended (a
    one-shot killed with SIGKILL): its lease need not be waited out. Any doubt (another
    pod, another namespace, an older holder format) says alive."""
    host, pid, _, namespace = [*holder.split(":"), "", "", ""][:4]
    if host != socket.gethostname() or not namespace or namespace != _pid_namespace():
        return False
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, owned by another user
        return False
    return False


@dataclass(frozen=True)
class Lease:
    """Who this process is, how long its claim on an audience lasts without renewal, and
    whether a pass gives its claims back when it ends: a one-shot does, so a daemon can take
    over at once; the daemon keeps its leases between passes and renews them itself."""

    holder: str
    seconds: float
    release: bool = True


class Claims:
    """The leases of one pass, renewed on a thread of their own every third of their term
    (as the daemon renews its own), and given back on exit when the lease says so."""

    def __init__(self, state: StateStore, lease: Lease) -> None:
        self._state = state
        self._lease = lease
        self._held: dict[str, threading.Event] = {}  # lease -> set when it was lost
        self._leases: dict[str, str] = {}  # audience name -> its lease
        self._renewed_at: dict[str, float] = {}  # name -> monotonic time of the last renewal
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name="syncd-leases", daemon=True)

    def __enter__(self) -> Claims:
        self._renewer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._closed.set()
        self._renewer.join()
        if self._lease.release and self._held:
            try:
                self._state.release_leases(self._lease.holder, list(self._held))
            except Exception as failure:  # they expire by themselves
                log.warning("could not release leases (they expire by themselves): %s", failure)

    def take(self, name: str, audience: AudienceRef) -> str | None:
        """Claim audience `name` and recover what a dead pass left of it; None when
        claimed, else why not (another process holds it)."""
        lease = self._leases[name] = lease_name(audience)
        holder, seconds = self._lease.holder, self._lease.seconds
        if not self._state.hold_lease(lease, holder, seconds):
            other = self._state.lease_holder(lease)
            ended = other is not None and _dead(other)
            if not (ended and self._state.take_over_lease(lease, other, holder, seconds)):
                return f"{other or 'another syncd'} holds its lease and is syncing it"
            log.warning("%s: took over the lease of %s, which has ended", name, other)
        with self._lock:
            self._held[lease] = threading.Event()
            self._renewed_at[lease] = time.monotonic()
        recovery = self._state.recover(audience)
        if recovery.interrupted_runs or recovery.batches_in_flight:
            log.warning(
                "%s: a previous pass was interrupted (%d runs, %d batches in flight); "
                "their members are re-sent or removed as the segment now says",
                name,
                recovery.interrupted_runs,
                recovery.batches_in_flight,
                extra={"audience": name},
            )
        return None

    def take_each(
        self, targets: Sequence[Target], refused: Callable[[Target, str], None]
    ) -> list[Target]:
        """The `targets` claimed, in order, each as `take` does; each other one is handed to
        `refused` with why not (a pass skips it, an erasure leaves its outcome pending)."""
        claimed = []
        for target in targets:
            why = self.take(target.name, target.ref)
            if why is None:
                claimed.append(target)
            else:
                refused(target, why)
        return claimed

    def lost(self, name: str) -> threading.Event:
        """Set once the lease on `name` could not be renewed: another process may take it,
        so this pass must send nothing more to that audience."""
        with self._lock:
            return self._held[self._leases[name]]

    def _renew(self) -> None:
        """Renew every held lease; one that could not be renewed for two thirds of its term
        (the state unreachable) counts as lost, before another process can take it."""
        while not self._closed.wait(self._lease.seconds / 3):
            with self._lock:
                held = dict(self._held)
            for name, lost in held.items():
                if not lost.is_set() and not self._renewed(name):
                    log.error("%s: lost its lease; this pass sends it nothing more", name)
                    lost.set()

    def _renewed(self, name: str) -> bool:
        """Renew one lease; False once another process may have it."""
        seconds = self._lease.seconds
        try:
            kept = self._state.hold_lease(name, self._lease.holder, seconds)
        except Exception as error:  # the state is unreachable: try again next time
            log.error("%s: could not renew its lease: %s", name, error)
            return time.monotonic() - self._renewed_at[name] < seconds * 2 / 3
        if kept:
            self._renewed_at[name] = time.monotonic()
        return kept
