"""Request statuses read on a thread of their own while a push goes on."""

from __future__ import annotations

import threading

from syncd.destinations import DestinationError, ErrorClass
from syncd.statuses import StatusWatch


class Network:
    """Each request is PROCESSING for its first `polls` reads, then `final`."""

    def __init__(self, polls: int, final: str = "SUCCESS") -> None:
        self.polls, self.final = polls, final
        self.reads: list[list[str]] = []
        self.seen: dict[str, int] = {}
        self.lock = threading.Lock()

    def read(self, request_ids: list[str]) -> dict[str, str]:
        with self.lock:
            self.reads.append(list(request_ids))
            found = {}
            for request_id in request_ids:
                self.seen[request_id] = self.seen.get(request_id, 0) + 1
                done = self.seen[request_id] > self.polls
                found[request_id] = self.final if done else "PROCESSING"
            return found


def test_statuses_are_read_as_requests_come_and_final_ones_are_not_read_again() -> None:
    network = Network(polls=1)
    watch = StatusWatch(network.read, first_delay=0.01, max_delay=0.02)
    watch.add(["a", "b"])
    watch.add(["c"])
    statuses = watch.results(timeout=10)
    watch.close()

    assert statuses == {"a": "SUCCESS", "b": "SUCCESS", "c": "SUCCESS"}
    assert network.seen == {"a": 2, "b": 2, "c": 2}  # one PROCESSING read, one final


def test_a_request_still_processing_at_the_timeout_says_so() -> None:
    network = Network(polls=10**6)
    watch = StatusWatch(network.read, first_delay=0.01, max_delay=0.02)
    watch.add(["slow"])
    assert watch.results(timeout=0.1) == {"slow": "PROCESSING"}


def test_no_request_means_no_read() -> None:
    network = Network(polls=0)
    watch = StatusWatch(network.read, first_delay=0.01)
    assert watch.results(timeout=5) == {}
    assert network.reads == []


def test_an_error_reading_keeps_what_was_read_and_says_why() -> None:
    reads = iter([{"a": "FAILED", "b": "PROCESSING"}])

    def read(request_ids: list[str]) -> dict[str, str]:
        found = next(reads, None)
        if found is None:
            raise DestinationError(ErrorClass.FAIL_AUDIENCE, "the token was revoked")
        return found

    watch = StatusWatch(read, first_delay=0.01)
    watch.add(["a", "b"])
    assert watch.results(timeout=5) == {"a": "FAILED", "b": "PROCESSING"}
    assert "revoked" in str(watch.error)
