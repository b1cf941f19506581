"""Conformance: what reaches each network is the lowercase hex SHA-256 of the value its rules
make of a raw one, and nothing reaches a network that asks for consent without it.

The expected forms are written out, not computed by syncd: the vectors of
tests/test_identity.py (Google's "Format user data", Meta's "Hashing and normalizing data")
and of tests/support/people.py, hashed here with hashlib. A network gets the vectors of the
rules its dialect declares for emails and phones; a dialect with other rules has none yet,
and fails until someone writes its vectors from its network's documentation.
"""

from __future__ import annotations

import re

import pytest
from conftest import Workspace, sha
from support.conformance import config_data, network_fixture, sync
from support.networks import Network

from syncd.destinations.base import Capabilities
from syncd.destinations.registry import NETWORKS as REGISTERED
from syncd.identity import GOOGLE, META, Dialect

network = network_fixture()
HEX_SHA256 = re.compile(r"[0-9a-f]{64}")

#: (email, phone, country) as the warehouse holds them.
RAW = [
    ("Cloudy.SanFrancisco+shopping@Gmail.com", "(415) 555-0132", "US"),  # tagged gmail
    ("bo b@example.com", "+44 20 7946 0958", "GB"),  # an inner space; a phone with its "+"
    ("  Alice.Smith@Gmail.com ", None, "US"),
    ("user.name+NYC@Example.com", "030 123456", "DE"),  # a tag outside gmail; a national phone
]
#: The emails and phones each network's rules make of RAW (an address Meta refuses for its
#: inner space is not sent; its phone still is).
GOOGLE_FORMS = {
    ("email", "cloudysanfrancisco@gmail.com"),
    ("email", "bob@example.com"),
    ("email", "alicesmith@gmail.com"),
    ("email", "user.name+nyc@example.com"),
    ("phone", "+14155550132"),
    ("phone", "+442079460958"),
    ("phone", "+4930123456"),
}
META_FORMS = {
    ("email", "cloudy.sanfrancisco+shopping@gmail.com"),
    ("email", "alice.smith@gmail.com"),
    ("email", "user.name+nyc@example.com"),
    ("phone", "14155550132"),
    ("phone", "442079460958"),
    ("phone", "4930123456"),
}


def email_and_phone_rules(dialect: Dialect) -> tuple[bool, ...]:
    return (
        dialect.email_inner_whitespace_removed,
        dialect.gmail_plus_tag_removed,
        dialect.gmail_dots_removed,
        dialect.phone_plus,
    )


#: Vectors by the rules they follow (TikTok's dialect is Google's for emails and phones).
VECTORS = {email_and_phone_rules(GOOGLE): GOOGLE_FORMS, email_and_phone_rules(META): META_FORMS}


def capabilities(network: Network) -> Capabilities:
    return next(n.capabilities for n in REGISTERED if n.kind == network.kind)


def test_the_network_receives_hex_sha256_of_its_normalized_values(
    workspace: Workspace, network: Network
) -> None:
    rules = email_and_phone_rules(capabilities(network).dialect)
    assert rules in VECTORS, f"{network.kind}: write the vectors of its email and phone rules"

    result = sync(workspace, network, [(*raw, None, None, None) for raw in RAW])

    assert result.status == "ok", result.error
    held = network.identifiers()
    assert all(HEX_SHA256.fullmatch(value) for _, value in held)
    assert held == {(column, sha(form)) for column, form in VECTORS[rules]}


def test_a_member_without_consent_is_never_sent(workspace: Workspace, network: Network) -> None:
    if not capabilities(network).needs_consent:
        pytest.skip(f"{network.kind} declares no consent (Capabilities.needs_consent)")
    people = [
        ("granted@example.com", "granted", "granted"),
        ("no-ads-data@example.com", "denied", "granted"),
        ("no-personalization@example.com", "granted", "denied"),
        ("default@example.com", None, None),  # the destination's default: granted
    ]
    rows = [(email, None, "US", data, personal, None) for email, data, personal in people]
    workspace.write_people(rows)

    data = consent_config(workspace, network)
    (result,) = workspace.sync(data)

    assert result.status == "ok", result.error
    assert result.invalid == {"row:no_consent": 2}
    assert network.emails() == {sha("granted@example.com"), sha("default@example.com")}
    assert sum(count for operation, count in network.pushes() if operation == "add") == 2


def consent_config(workspace: Workspace, network: Network) -> dict:
    """The segment's consent read from the people table's spare name columns."""
    data = config_data(workspace, network)
    data["segments"]["people"]["consent"] = {
        "ad_user_data": "first_name",
        "ad_personalization": "last_name",
    }
    return data
