"""Conformance: each network's errors, taken from its own table and armed with its emulator's
controls, do what their class says through a whole pass. A passing fault is retried and the
pass converges; a refusal or a refused token fails the audience at once, never retried,
with the table's words (its fix) in the error; a rate-limit answer is waited out as long as
the network asks, and the pass converges."""

from __future__ import annotations

import time

from conftest import Workspace, sha
from support.conformance import emails, network_fixture, sync
from support.networks import Network

from syncd.destinations import ErrorClass
from syncd.destinations.retry import RetryPolicy

network = network_fixture()
PEOPLE = [f"buyer{i}" for i in range(4)]
#: Retries that wait as long as the network asks (up to a few seconds), with no backoff of
#: their own.
PATIENT = RetryPolicy(attempts=4, base_delay=0.0, max_delay=5.0)
#: What a rate-limit answer asks the pass to wait.
THROTTLE_SECONDS = 0.3


def hashed(names: list[str]) -> set[str]:
    return {sha(f"{name}@example.com") for name in names}


def test_a_transient_error_is_retried_and_the_pass_converges(
    workspace: Workspace, network: Network
) -> None:
    armed = network.transient()
    assert armed.error_class is ErrorClass.RETRY

    result = sync(workspace, network, emails(*PEOPLE), max_in_flight=1)

    assert network.pending_faults() == 0  # the error was really met
    assert result.status == "ok", result.error
    assert result.requests == len(network.pushes()) + 1  # the refused request, sent again
    assert network.emails() == hashed(PEOPLE)


def test_a_refusal_fails_the_audience_with_its_fix_and_is_not_retried(
    workspace: Workspace, network: Network
) -> None:
    armed = network.refusal()
    assert armed.error_class is ErrorClass.FAIL_AUDIENCE

    result = sync(workspace, network, emails(*PEOPLE), max_in_flight=1)

    assert result.status == "failed"
    assert armed.meaning in (result.error or "")
    assert result.requests <= 1  # the one refused, or none when a lookup was refused first
    assert network.pushes() == [] and network.emails() == set()


def test_a_refused_token_fails_the_audience_with_its_fix_and_is_not_retried(
    workspace: Workspace, network: Network
) -> None:
    sync(workspace, network, emails(*PEOPLE[:2]))
    armed = network.revoke_token()
    assert armed.error_class is ErrorClass.FAIL_AUDIENCE

    result = sync(workspace, network, emails(*PEOPLE), max_in_flight=1)

    assert result.status == "failed"
    assert armed.meaning in (result.error or "")
    assert result.requests <= 1
    assert network.emails() == hashed(PEOPLE[:2])


def test_a_rate_limit_answer_is_waited_out_and_the_pass_converges(
    workspace: Workspace, network: Network
) -> None:
    wait = network.throttle(THROTTLE_SECONDS)

    started = time.monotonic()
    result = sync(workspace, network, emails(*PEOPLE), retry_policy=PATIENT, max_in_flight=1)
    elapsed = time.monotonic() - started

    assert result.status == "ok", result.error
    assert network.pending_faults() == 0
    assert result.requests == len(network.pushes()) + 1
    assert elapsed >= wait
    assert network.emails() == hashed(PEOPLE)
