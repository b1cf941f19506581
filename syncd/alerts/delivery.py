"""Delivering alert messages to webhooks, on a thread of its own, from the state's outbox.

A pass only writes a row to the outbox (`syncd.alerts.engine.observe`); the courier thread
of the process takes due rows, POSTs each to its webhook and deletes it once the webhook
answered 2xx, or sets its next attempt after a backoff. So a pass never waits on a webhook
that is down or slow, and a message still in the outbox when `syncd sync --once` exits is
sent by the next run of any syncd on the same state. A row is claimed before it is sent
(its next attempt moved past the send's timeout), so replicas never send one message
twice, and a process that died sending it leaves it to the next one.

The courier holds the state only between sends, never during one: with a DuckDB state,
another process waiting for the file is not kept out by a slow webhook.
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx

from syncd.alerts.text import body
from syncd.config.alerts import Webhook
from syncd.config.models import SyncdConfig
from syncd.state import alerts as records
from syncd.state import open_state
from syncd.state.backends import Backend

log = logging.getLogger("syncd.alerts")

#: The longest pause between two attempts at one message.
MAX_BACKOFF_SECONDS = 300.0
#: How long the courier sleeps with nothing due before it looks at the outbox again (a
#: replica may have queued something there).
IDLE_SECONDS = 60.0
#: Statuses after which the same message is worth sending again; any other 4xx means the
#: webhook will never take it (Slack: invalid_payload, no_service, channel_not_found...,
#: https://api.slack.com/messaging/webhooks#handling_errors).
_RETRIED = frozenset({408, 429})


class Courier:
    """The process's sender of alert messages: one thread, started by the first `wake`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config: SyncdConfig | None = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._stopping = threading.Event()
        #: Seconds from the end of the latest round until a message is due (None: none is).
        self._due_in: float | None = None
        #: How many times `wake` was called: a round that began before the latest call may
        #: have missed what it queued, so it does not count as idle.
        self._asked = 0

    def wake(self, config: SyncdConfig) -> None:
        """Look at the outbox now (something was queued, or a run starts), with the webhooks
        of `config`; starts the thread when it is not running. Returns at once."""
        if not config.alerts.webhooks:
            return
        with self._lock:
            self._config = config
            self._asked += 1
            self._idle.clear()
            if self._thread is None or not self._thread.is_alive():
                self._stopping.clear()
                self._thread = threading.Thread(target=self._run, name="syncd-alerts", daemon=True)
                self._thread.start()
        self._wake.set()

    def settle(self, config: SyncdConfig, seconds: float) -> int:
        """Wait up to `seconds` for the messages due now to be delivered, then stop the
        thread (one in the middle of a send finishes it and exits): for a one-shot command,
        after its pass is done and printed. Returns how many messages stay in the outbox for
        the next run (-1 if the state could not be read)."""
        if not config.alerts.webhooks:
            return 0
        deadline = time.monotonic() + seconds
        self.wake(config)
        while self._idle.wait(max(deadline - time.monotonic(), 0.0)):
            due_in = self._due_in  # a message waits for its backoff: within the wait?
            if due_in is None or due_in > deadline - time.monotonic():
                break
            time.sleep(due_in)
            self.wake(config)
        self.stop(0.0)
        try:
            with open_state(config.state) as state:
                left = records.pending(state.backend)
        except Exception:  # the next run reads it again
            return -1
        if left:
            log.warning("alerts: %d messages not delivered yet; the next run sends them", left)
        return left

    def stop(self, seconds: float) -> None:
        """Stop the thread, waiting up to `seconds` for it."""
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(seconds)

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                config, asked = self._config, self._asked
            assert config is not None
            try:
                self._due_in = self._round(config)
            except Exception as error:  # the state is unreachable: try again later
                log.error("alerts: could not read the outbox: %s", error)
                self._due_in = IDLE_SECONDS
            pause = IDLE_SECONDS if self._due_in is None else self._due_in
            with self._lock:
                if pause > 0 and asked == self._asked:
                    self._idle.set()
            if self._wake.wait(pause):
                self._wake.clear()

    def _round(self, config: SyncdConfig) -> float | None:
        """Send what is due now; the seconds until the next message is due (None: the
        outbox is empty)."""
        webhooks = {webhook.digest: webhook for webhook in config.alerts.webhooks}
        now = datetime.now(UTC)
        with open_state(config.state) as state:
            _expire(state.backend, config, now, webhooks)
            claimed = [
                message
                for message in records.due(state.backend, now)
                if records.claim(
                    state.backend, message.message_id, now, _claim_until(now, webhooks, message)
                )
            ]
        outcomes = []
        for message in claimed:
            if self._stopping.is_set():
                break
            outcomes.append((message, _send(webhooks[message.webhook], message)))
        with open_state(config.state) as state:
            for message, error in outcomes:
                _record(state.backend, message, error)
            if outcomes:
                return 0.0  # more may be due behind them
            due = records.next_due(state.backend)
        if due is None:
            return None
        return min(max((due - datetime.now(UTC)).total_seconds(), 0.05), IDLE_SECONDS)


def _claim_until(
    now: datetime, webhooks: dict[str, Webhook], message: records.Outgoing
) -> datetime:
    return now + timedelta(seconds=webhooks[message.webhook].timeout_seconds + 30)


def _expire(
    backend: Backend, config: SyncdConfig, now: datetime, webhooks: dict[str, Webhook]
) -> None:
    """Drop messages older than `alerts.give_up_after`, and those of webhooks the config
    no longer has, each said in the log."""
    before = now - timedelta(seconds=config.alerts.give_up_seconds)
    for reason, count in records.drop_stale(backend, before, list(webhooks)).items():
        if count:
            log.error("alerts: %d messages dropped undelivered: %s", count, reason)


def _send(webhook: Webhook, message: records.Outgoing) -> str | None:
    """POST the message; None when the webhook took it, else why not ("retry: ..." when
    sending it again may help)."""
    try:
        response = httpx.post(
            webhook.url.get_secret_value(),
            json=body(webhook.format, message),
            timeout=webhook.timeout_seconds,
        )
    except httpx.HTTPError as error:
        return f"retry: {type(error).__name__}"
    if response.is_success:
        return None
    kind = "retry" if response.status_code in _RETRIED or response.status_code >= 500 else "drop"
    return f"{kind}: HTTP {response.status_code} {response.text[:100]}"


def _record(backend: Backend, message: records.Outgoing, error: str | None) -> None:
    what = f"{message.event} message of {message.rule} on {message.audience}"
    if error is None:
        records.delivered(backend, message.message_id)
        log.info("alerts: delivered the %s", what)
    elif error.startswith("drop"):
        records.delivered(backend, message.message_id)
        log.error("alerts: webhook %s refused the %s for good: %s", message.webhook, what, error)
    else:
        delay = min(2.0**message.attempts, MAX_BACKOFF_SECONDS) * random.uniform(0.8, 1.2)
        records.retry_at(
            backend, message.message_id, datetime.now(UTC) + timedelta(seconds=delay), error
        )
        log.warning("alerts: webhook %s did not take the %s (%s)", message.webhook, what, error)


#: The process's courier.
COURIER = Courier()
# Stopped before the interpreter exits: a daemon thread still inside DuckDB's C++ code when
# Python ends it aborts the process ("terminate called ... FATAL: exception not rethrown",
# seen once after a test run), and turns a clean exit into a crash. A send in flight has
# its webhook's timeout to finish; one that does not is sent again by the next run.
atexit.register(COURIER.stop, 5.0)


def wake(config: SyncdConfig) -> None:
    """Have the process's courier look at the outbox now (see `Courier.wake`)."""
    COURIER.wake(config)


def settle(config: SyncdConfig, seconds: float = 2.0) -> int:
    """See `Courier.settle`."""
    return COURIER.settle(config, seconds)
