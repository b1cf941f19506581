"""Prometheus metrics of syncs: counts and timings only, labelled by audience and network.

Audience labels are config names (`segment->destination`), never identifiers, so the
metrics endpoint can be scraped by anyone who may read the config.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

ROWS_READ = Counter(
    "syncd_rows_read", "Segment rows read from the warehouse.", ["audience"], registry=REGISTRY
)
INVALID_VALUES = Counter(
    "syncd_invalid_values",
    "Identifier values quarantined, by kind and reason.",
    ["audience", "reason"],
    registry=REGISTRY,
)
MEMBERS_CHANGED = Counter(
    "syncd_members_changed",
    "Members acknowledged by the network, by operation (add or remove).",
    ["audience", "network", "operation"],
    registry=REGISTRY,
)
REQUESTS = Counter(
    "syncd_requests",
    "Requests sent to networks, by outcome (ok, retry, rate_limited, fail_audience).",
    ["network", "outcome"],
    registry=REGISTRY,
)
RETRIES = Counter("syncd_retries", "Requests sent again.", ["network"], registry=REGISTRY)
RATE_LIMIT_WAIT = Counter(
    "syncd_rate_limit_wait_seconds",
    "Seconds spent waiting because a network asked to slow down.",
    ["network"],
    registry=REGISTRY,
)
SYNC_DURATION = Histogram(
    "syncd_sync_duration_seconds",
    "Wall time of one audience's pass.",
    ["audience"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
    registry=REGISTRY,
)
SYNCS = Counter(
    "syncd_syncs", "Audience passes, by final status.", ["audience", "status"], registry=REGISTRY
)
LAST_SUCCESS = Gauge(
    "syncd_last_success_timestamp_seconds",
    "Unix time of the audience's last successful pass.",
    ["audience"],
    registry=REGISTRY,
)
AUDIENCE_MEMBERS = Gauge(
    "syncd_audience_members",
    "Members in the segment at the last pass.",
    ["audience"],
    registry=REGISTRY,
)

SPEND_ROWS = Counter(
    "syncd_spend_rows",
    "Spend rows written to the spend table (one per day, ad set or ad group, and audience).",
    ["destination", "network"],
    registry=REGISTRY,
)
SPEND_PULLS = Counter(
    "syncd_spend_pulls",
    "Spend pulls of a destination, by outcome (ok, skipped, failed); destination "
    '"*" counts pulls that failed before any destination (the spend table unreachable).',
    ["destination", "status"],
    registry=REGISTRY,
)
SPEND_LAST_PULL = Gauge(
    "syncd_spend_last_pull_timestamp_seconds",
    "Unix time of the destination's last successful spend pull.",
    ["destination"],
    registry=REGISTRY,
)

# What deploy/prometheus/syncd-alerts.yaml and deploy/grafana/syncd-dashboard.json read: each
# audience as its last pass left it, the destinations' credentials, and spend.
LAST_PASS = Gauge(
    "syncd_audience_last_pass",
    "1 for the status the audience's last pass ended with (ok, failed, refused, deferred, "
    "incomplete, invalid), 0 for those of earlier passes; skipped, stopped and planned passes "
    "leave it as it was.",
    ["audience", "status"],
    registry=REGISTRY,
)
MEMBERS_SENT = Gauge(
    "syncd_audience_members_sent",
    "Members (adds and removes) the audience's last completed pass sent.",
    ["audience"],
    registry=REGISTRY,
)
MEMBERS_REFUSED = Gauge(
    "syncd_audience_members_refused",
    "Members the network refused at the audience's last completed pass.",
    ["audience"],
    registry=REGISTRY,
)
MEMBERS_HELD = Gauge(
    "syncd_audience_members_held",
    "Members syncd holds in the audience after its last successful pass.",
    ["audience"],
    registry=REGISTRY,
)
MATCHED_MEMBERS = Gauge(
    "syncd_audience_matched_members",
    "Members the network says it matched (its audience size), at the last completed pass.",
    ["audience"],
    registry=REGISTRY,
)
NETWORK_MEMBERS_MIN = Gauge(
    "syncd_audience_network_members_min",
    "The fewest members the network's own bounded count says the audience holds, at its "
    "last completed pass that gave one: Google's size and match rate, Meta's approximate "
    "range; never TikTok, whose count lags changes by a day or two.",
    ["audience"],
    registry=REGISTRY,
)
MATCH_RATE = Gauge(
    "syncd_audience_match_rate",
    "Matched members over the segment's members at the last completed pass (0 to 1).",
    ["audience"],
    registry=REGISTRY,
)
CREDENTIAL_VALID = Gauge(
    "syncd_credential_valid",
    "1 when the network took the destination's credentials at the last check, 0 when it "
    "refused them.",
    ["destination"],
    registry=REGISTRY,
)
CREDENTIAL_EXPIRY = Gauge(
    "syncd_credential_expiry_timestamp_seconds",
    "Unix time the destination's credentials expire, where the network says.",
    ["destination"],
    registry=REGISTRY,
)
LAST_SPEND = Gauge(
    "syncd_audience_last_spend_timestamp_seconds",
    "Unix time (midnight UTC) of the latest day with spend on the audience in the spend "
    "pulls of this process.",
    ["audience"],
    registry=REGISTRY,
)

#: Pass statuses that say nothing of an audience's health (another replica holds it, the
#: pass was stopped, or it only planned), as the alert rules judge them.
_UNJUDGED = frozenset({"skipped", "stopped", "planned"})
_last_status: dict[str, str] = {}
_last_status_lock = threading.Lock()


def observe_pass(
    audience: str, status: str, rows: int, invalid: dict[str, int], members: int, seconds: float
) -> None:
    """Record one audience's finished pass."""
    ROWS_READ.labels(audience).inc(rows)
    for reason, count in invalid.items():
        INVALID_VALUES.labels(audience, reason).inc(count)
    SYNC_DURATION.labels(audience).observe(seconds)
    SYNCS.labels(audience, status).inc()
    AUDIENCE_MEMBERS.labels(audience).set(members)
    if status == "ok":
        LAST_SUCCESS.labels(audience).set(time.time())


def observe_outcome(
    audience: str,
    status: str,
    *,
    sent: int,
    refused: int,
    held: int,
    members: int,
    matched: object,
) -> None:
    """The audience as its pass left it, for alerting rules: its status, then for a pass
    that pushed and read the audience back (ok, incomplete) what the network refused and
    matched, and for a successful one the members syncd holds after it."""
    if status in _UNJUDGED:
        return
    with _last_status_lock:
        previous = _last_status.get(audience)
        _last_status[audience] = status
        if previous is not None and previous != status:
            LAST_PASS.labels(audience, previous).set(0)
        LAST_PASS.labels(audience, status).set(1)
    if status not in ("ok", "incomplete"):
        return
    MEMBERS_SENT.labels(audience).set(sent)
    MEMBERS_REFUSED.labels(audience).set(refused)
    if isinstance(matched, int) and not isinstance(matched, bool):
        MATCHED_MEMBERS.labels(audience).set(matched)
        if members:
            MATCH_RATE.labels(audience).set(min(matched / members, 1.0))
    if status == "ok":
        MEMBERS_HELD.labels(audience).set(held)


def observe_network_size(audience: str, low: float) -> None:
    """The lower bound of the network's count of the audience (what the size-drift rules,
    syncd's and deploy/prometheus's, compare with the members held)."""
    NETWORK_MEMBERS_MIN.labels(audience).set(low)


def observe_credentials(destination: str, valid: bool | None, expires_at: datetime | None) -> None:
    """What the network said of the destination's credentials (nothing when it could not)."""
    if valid is None:
        return
    CREDENTIAL_VALID.labels(destination).set(1 if valid else 0)
    if expires_at is not None:
        CREDENTIAL_EXPIRY.labels(destination).set(expires_at.timestamp())


def observe_spend(names: Mapping[str, str], rows: Iterable[tuple[str | None, date, float]]) -> None:
    """The latest day with spend of each audience in a pull's rows of (segment, day, cost);
    `names` gives the audience of each segment the pull covered."""
    latest: dict[str, date] = {}
    for segment, day, cost in rows:
        audience = names.get(segment or "")
        if audience is not None and cost > 0 and (audience not in latest or day > latest[audience]):
            latest[audience] = day
    for audience, day in latest.items():
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        LAST_SPEND.labels(audience).set(midnight.timestamp())
