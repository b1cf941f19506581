"""Prometheus metrics of syncs: counts and timings only, labelled by audience and network.

Audience labels are config names (`segment->destination`), never identifiers, so the
metrics endpoint can be scraped by anyone who may read the config.
"""

from __future__ import annotations

import time

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
