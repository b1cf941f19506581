"""The YAML `syncd demo` writes: every playbook segment to one Meta, one Google and one TikTok
audience, each destination's endpoint read from its sandbox variable with `syncd sandbox`'s
default address as the fallback, so the same file runs in the demo and by hand."""

from __future__ import annotations

from typing import Any

import yaml

from syncd.demo.addresses import DEFAULT_PORT_BASE, endpoint_variable, sandbox_port
from syncd.demo.lifts import HOLDOUT_FRACTION, OUTCOMES_SQL, TRUE_LIFTS
from syncd.demo.segments import SEGMENT_COLUMNS, SEGMENTS

__all__ = ["demo_config", "demo_yaml"]

#: Destination name -> (audience id of the n-th segment is base + n).
_AUDIENCE_ID_BASES = {"meta": 23850000000000000, "google": 9000000, "tiktok": 180000000}


def _endpoint(kind: str, scheme: str = "http://") -> str:
    """`${SYNCD_SANDBOX_<KIND>:-<the address syncd sandbox serves it on>}`."""
    port = sandbox_port(kind, DEFAULT_PORT_BASE)
    return f"${{{endpoint_variable(kind)}:-{scheme}127.0.0.1:{port}}}"


def demo_config(shop_file: str) -> dict[str, Any]:
    """The demo's config, as the YAML holds it."""
    segments = {
        name: {
            "description": segment.description,
            "sql": segment.sql,
            "identifiers": {column: column for column in SEGMENT_COLUMNS},
            "default_country": "US",
            # A share held out of the segment's audiences on every network, for the P&L.
            **({"holdout": {"fraction": HOLDOUT_FRACTION}} if name in TRUE_LIFTS else {}),
        }
        for name, segment in SEGMENTS.items()
    }
    audiences = [
        {"segment": name, "destination": destination, "audience_id": str(base + number)}
        for number, name in enumerate(SEGMENTS, start=1)
        for destination, base in _AUDIENCE_ID_BASES.items()
    ]
    return {
        "warehouse": {"kind": "duckdb", "path": shop_file},
        "segments": segments,
        "destinations": {
            "meta": {
                "kind": "meta",
                "ad_account_id": "act_1000",
                "access_token": "${META_ACCESS_TOKEN:-sandbox-token}",
                "endpoint": _endpoint("meta"),
            },
            "google": {
                "kind": "google_data_manager",
                "operating_account_id": "1234567890",
                "access_token": "${GOOGLE_ACCESS_TOKEN:-sandbox-token}",
                "endpoint": _endpoint("google_data_manager"),
                # Spend comes from the Google Ads API: the Data Manager API has no reports.
                "reporting": {
                    "developer_token": "${GOOGLE_ADS_DEVELOPER_TOKEN:-sandbox-developer-token}",
                    "access_token": "${GOOGLE_ACCESS_TOKEN:-sandbox-token}",
                    "endpoint": _endpoint("google_ads", scheme=""),  # gRPC: host:port
                },
            },
            "tiktok": {
                "kind": "tiktok",
                "advertiser_id": "7000000000000000001",
                "access_token": "${TIKTOK_ACCESS_TOKEN:-sandbox-token}",
                "endpoint": _endpoint("tiktok"),
            },
        },
        "audiences": audiences,
        # People who opted out (empty until the demo writes one): out of every audience.
        "suppressions": {
            "sql": "select email, phone from opt_outs",
            "identifiers": {"email": "email", "phone": "phone"},
            "default_country": "US",
        },
        # The orders placed after the first sync: what the held-out people are compared by.
        "outcomes": {
            "sql": OUTCOMES_SQL,
            "identifiers": {"email": "email", "phone": "phone"},
            "occurred_at": "ordered_at",
            "value": "amount",
            "country_column": "country",
            "default_country": "US",
        },
        "state": {"path": "state.duckdb"},
    }


def demo_yaml(shop_file: str) -> str:
    """The demo's config as the file it writes, with a header saying where it came from."""
    header = (
        "# Written by `syncd demo`. Endpoints default to `syncd sandbox`'s ports; tokens\n"
        "# default to the sandbox's. For real accounts see config/example.yaml.\n"
    )
    return header + yaml.safe_dump(demo_config(shop_file), sort_keys=False, width=100)
