"""The one interface every network implements, like an httpx transport: small on purpose.

A destination pushes one batch of members at a time and says, through the class of any
error it raises, what the runner should do next. It never decides on retries itself:
that policy lives in one place (`syncd.destinations.retry`) for every network.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, Self

import pyarrow as pa
import pyarrow.compute as pc

from syncd.identity import Dialect, IdentifierKind
from syncd.pacing import Pace


@dataclass(frozen=True)
class Capabilities:
    """What the planner needs to know about a network, as data rather than branches."""

    #: The network's name in results, metrics and the rules' change log ("google", "meta").
    network: str
    #: How the network normalizes and hashes identifiers: every identity path reads it.
    dialect: Dialect
    max_members_per_request: int
    identifier_kinds: frozenset[IdentifierKind]
    min_serving_size: int
    #: Whether members need the EU consent signals (Google Customer Match): rows without
    #: them are never sent.
    needs_consent: bool = False
    #: How fast and how wide requests may go (`syncd.pacing`).
    pace: Pace = field(default_factory=Pace)
    #: What the network offers beyond adds and removes (`Destination`'s optional operations):
    #: replacing a whole audience in one session (Meta's usersreplace),
    replaces: bool = False
    #: applying requests after acknowledging them, with a status to read later (Data
    #: Manager's requestStatus),
    processes_later: bool = False
    #: and checking requests without applying them (Data Manager's validateOnly).
    validates_only: bool = False


@dataclass(frozen=True)
class PushResult:
    """A network's acknowledgement of one request."""

    received: int
    invalid: int = 0
    request_id: str | None = None
    #: Rows of an add that lacked the consent it needs: never sent, and not in `received`.
    skipped_no_consent: int = 0
    #: Every request's id when one push took several (one per member type or destination
    #: group); `request_id` is the first of them.
    request_ids: tuple[str, ...] = ()
    #: Rows the network's own acknowledgment says it did not apply (it counted fewer than
    #: were sent): the batch is not settled, and its members are sent again next pass.
    unapplied: int = 0


#: The key of `Destination.describe`'s result that every network fills, whatever it calls
#: the figure: how many of the audience's members the network matched to its users, by its
#: latest estimate (an int; None while it does not say). The spend report's match rate is
#: it over the members sent, with no network's own fields to know.
MATCHED = "matched_members"


class ErrorClass(StrEnum):
    """What to do about a failed request."""

    RETRY = "retry"  # a passing fault: try the same request again after a backoff
    RATE_LIMITED = "rate_limited"  # the network asked us to slow down: wait as long as it says
    FAIL_AUDIENCE = "fail_audience"  # retrying cannot help: stop this audience, say why


class DestinationError(Exception):
    """A failed push, classified once, where the network's error codes are known."""

    def __init__(
        self, error_class: ErrorClass, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds (HTTP also allows a date; networks send seconds)."""
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


class Destination(Protocol):
    """Every operation a network client may offer. Those its `capabilities` do not claim
    (`replaces`, `processes_later`) are never called; `Client` answers them with an error."""

    capabilities: Capabilities

    def add(self, audience_id: str, members: pa.Table) -> PushResult:
        """Add up to `max_members_per_request` members (their identifiers, SENT_SCHEMA;
        any other column is ignored) in one request."""
        ...

    def remove(self, audience_id: str, members: pa.Table) -> PushResult:
        """Remove up to `max_members_per_request` members in one request."""
        ...

    def find_audience(self, name: str) -> str | None:
        """The id of the audience called exactly `name`, or None. Reads only."""
        ...

    def ensure_audience(self, name: str, description: str) -> str:
        """The id of the audience called exactly `name`, created when there is none."""
        ...

    def describe(self, audience_id: str) -> dict[str, object]:
        """What the network says of the audience now (size, status), for the run record:
        the network's own fields, and `MATCHED`, which every network fills."""
        ...

    def replace(
        self, audience_id: str, batches: Iterable[pa.Table], total: int
    ) -> list[PushResult]:
        """Make the audience exactly `batches` (`Capabilities.replaces`)."""
        ...

    def settle(self, request_ids: Sequence[str], timeout: float) -> dict[str, str]:
        """Each request's status (`Capabilities.processes_later`; see `syncd.statuses`)."""
        ...

    def close(self) -> None: ...


class Client:
    """What a network client inherits: the optional operations its capabilities do not
    claim (the pipeline never calls them, and a caller that does learns why at once), and
    closing as a context manager."""

    capabilities: Capabilities

    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def replace(
        self, audience_id: str, batches: Iterable[pa.Table], total: int
    ) -> list[PushResult]:
        raise NotImplementedError(f"{self.capabilities.network} cannot replace an audience")

    def settle(self, request_ids: Sequence[str], timeout: float) -> dict[str, str]:
        raise NotImplementedError(
            f"{self.capabilities.network} applies requests when it takes them"
        )


# -- refusals of single rows, and quotas that outlast a run ---------------------------------


class MemberErrors(DestinationError):
    """The network refused specific members of a batch, named by their 0-based row index.

    `reasons` maps each refused row to a value-free reason (an API error code such as
    INVALID_HEX_ENCODING), never to the value. `applied` tells whether the other rows of the
    batch already took effect (Google Ads partial failure) or nothing did (the Data Manager
    API fails a whole request). Either way the caller quarantines exactly these rows and sends
    the rest (`split_by_index`); sending applied rows again is harmless, adds and removes
    being idempotent. The class is FAIL_AUDIENCE so the retry runner never repeats a request
    that must fail the same way again.
    """

    def __init__(self, reasons: dict[int, str], message: str, *, applied: bool = False) -> None:
        super().__init__(ErrorClass.FAIL_AUDIENCE, message)
        self.reasons = dict(sorted(reasons.items()))
        self.applied = applied

    @property
    def indexes(self) -> tuple[int, ...]:
        """The refused rows, ascending."""
        return tuple(self.reasons)


class ReplaceNotAllowed(DestinationError):
    """The network will not replace this audience's members now; send changes instead.

    ``reason`` is the network's word for it. Nothing was replaced: the audience is as it was.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(ErrorClass.FAIL_AUDIENCE, message)
        self.reason = reason


class QuotaExhausted(DestinationError):
    """A quota that does not refill within a run (a day's requests) is used up.

    Retrying within the run cannot help, so the class is FAIL_AUDIENCE: the run stops
    cleanly, what was acknowledged stays committed, and the next run resumes from there.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(ErrorClass.FAIL_AUDIENCE, message, retry_after=retry_after)


def split_by_index(batch: pa.Table, indexes: Iterable[int]) -> tuple[pa.Table, pa.Table]:
    """(rows not named, rows named): the rows to send again and the rows to quarantine."""
    flags = [False] * len(batch)
    for index in indexes:
        if not 0 <= index < len(batch):
            raise IndexError(f"row {index} is not in a batch of {len(batch)}")
        flags[index] = True
    mask = pa.array(flags, pa.bool_())
    return batch.filter(pc.invert(mask)), batch.filter(mask)
