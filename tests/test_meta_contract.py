"""Contract: every name syncd puts on the wire to Meta, and every name the Graph emulator
serves, checked against Meta's own artifacts rather than against each other.

The reference is the installed facebook-business SDK, generated from the Graph API version
syncd pins: ``CustomAudience.Field``, ``CustomAudience.Schema.MultiKeySchema``,
``CustomAudience.CustomerFileSource`` and ``Subtype``, ``CustomAudienceSession.Field``,
``AdSet.Field``/``BillingEvent``, ``AdsInsights.Field``/``Level``, and the parameter lists and
enums each SDK request builder declares (``create_user``, ``delete_users``,
``create_users_replace``, ``create_custom_audience``, ``get_insights`` ...). The keys of the
``session`` object are not in the SDK (it passes the object through): they come from the
users edge reference, https://developers.facebook.com/docs/marketing-api/reference/custom-audience/users.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pyarrow as pa
import pytest
from facebook_business import apiconfig
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adset import AdSet
from facebook_business.adobjects.adsinsights import AdsInsights
from facebook_business.adobjects.customaudience import CustomAudience
from facebook_business.adobjects.customaudiencesession import CustomAudienceSession
from facebook_business.api import FacebookAdsApi, FacebookRequest
from facebook_business.session import FacebookSession

from syncd.config.models import Audience, MetaDestination
from syncd.destinations.meta import GRAPH_API_VERSION, SCHEMA_KEYS, MetaCustomAudiences
from syncd.destinations.meta.form import FormEncoded
from syncd.destinations.meta.sandbox import HASHED_KEYS, PLAIN_KEYS, MetaGraphEmulator
from syncd.destinations.meta.sandbox.edges import AD_SET_FIELDS, AUDIENCE_FIELDS, INSIGHT_FIELDS
from syncd.destinations.meta.sandbox.payload import CUSTOMER_FILE_SOURCES
from syncd.destinations.retry import RetryPolicy
from syncd.members import MEMBER_SCHEMA
from syncd.spend.meta import billing_model, pull_meta

TOKEN = "meta-contract-token-4d8a"
ACCOUNT = "act_1000"
AUDIENCE = "23850000000000001"
#: The ``session`` object of the users and usersreplace edges (Meta's users edge reference).
SESSION_KEYS = frozenset({"session_id", "batch_seq", "last_batch_flag", "estimated_num_total"})
#: Graph's own parameters, valid on every edge and so in no SDK builder's list: paging
#: (limit, after, summary), field selection, and the method override syncd removes with.
GRAPH_PARAMS = frozenset({"fields", "limit", "after", "summary", "method"})


def values(enum: type) -> set[str]:
    """The values of one of the SDK's generated enum classes."""
    return {value for name, value in vars(enum).items() if not name.startswith("_")}


# -- names syncd and the emulator use, against the SDK ---------------------------------------


def test_schema_keys_are_the_sdks_multi_key_schema() -> None:
    multi_key = values(CustomAudience.Schema.MultiKeySchema)
    assert set(SCHEMA_KEYS.values()) <= multi_key
    assert multi_key >= HASHED_KEYS | PLAIN_KEYS
    # The SDK hashes every key but EXTERN_ID (format_params) and sends MADID as it is.
    assert {
        CustomAudience.Schema.MultiKeySchema.extern_id,
        CustomAudience.Schema.MultiKeySchema.madid,
    } == PLAIN_KEYS


def test_audience_creation_enums_are_the_sdks() -> None:
    assert values(CustomAudience.CustomerFileSource) == CUSTOMER_FILE_SOURCES
    assert CustomAudience.Subtype.custom == "CUSTOM"


def test_fields_the_emulator_serves_are_the_sdks() -> None:
    assert values(CustomAudience.Field) >= AUDIENCE_FIELDS
    assert values(AdSet.Field) >= AD_SET_FIELDS
    assert values(AdsInsights.Field) >= INSIGHT_FIELDS


def test_the_users_answer_is_read_by_the_sdks_session_fields() -> None:
    """PushResult reads num_received, num_invalid_entries and session_id: the fields of the
    SDK's CustomAudienceSession, the record of one upload session."""
    assert {"num_received", "num_invalid_entries", "session_id"} <= values(
        CustomAudienceSession.Field
    )


def test_billing_models_are_named_on_the_sdks_billing_events() -> None:
    events = values(AdSet.BillingEvent)
    assert {"IMPRESSIONS", "LINK_CLICKS", "CLICKS"} <= events
    assert {billing_model(event) for event in events} >= {"CPM", "CPC"}


def test_the_pinned_version_is_the_sdk_floors() -> None:
    """The floor in pyproject is the SDK release generated from the pinned Graph version,
    and the installed SDK knows that version."""
    project = tomllib.loads(Path(__file__).parents[1].joinpath("pyproject.toml").read_text())
    floors = [d for d in project["project"]["dependencies"] if d.startswith("facebook-business")]
    (floor,) = [re.fullmatch(r"facebook-business>=(\d+)\.(\d+)", d) for d in floors]
    assert floor is not None
    pinned = re.fullmatch(r"v(\d+)\.(\d+)", GRAPH_API_VERSION)
    installed = re.fullmatch(r"v(\d+)\.(\d+)", apiconfig.ads_api_config["API_VERSION"])
    assert pinned is not None and installed is not None
    assert int(floor[1]) == int(pinned[1]) <= int(installed[1])


# -- what syncd sends, against the SDK's request builders ------------------------------------

Sent = list[tuple[str, tuple[str, ...], dict[str, Any]]]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    """Every (method, path, params) syncd hands to facebook-business' API object."""
    calls: Sent = []
    original = FacebookAdsApi.call

    def record(self: FacebookAdsApi, method: str, path: Any, params: Any = None, *a: Any, **k: Any):
        if isinstance(path, tuple | list):
            calls.append((method, tuple(str(part) for part in path), dict(params or {})))
        else:  # a cursor's next page: a URL
            calls.append((method, (str(path),), dict(params or {})))
        return original(self, method, path, params, *a, **k)

    monkeypatch.setattr(FacebookAdsApi, "call", record)
    return calls


@pytest.fixture
def emulator() -> Iterator[MetaGraphEmulator]:
    with MetaGraphEmulator([AUDIENCE], TOKEN, ad_accounts=[ACCOUNT]) as running:
        yield running


def destination(emulator: MetaGraphEmulator) -> MetaDestination:
    return MetaDestination(
        kind="meta", ad_account_id=ACCOUNT, access_token=TOKEN, endpoint=emulator.base_url
    )


def every_kind() -> pa.Table:
    """One member with every identifier column syncd's member schema has."""
    row = {name: None for name in MEMBER_SCHEMA.names}
    row["member_key"] = "key-1"
    for column in SCHEMA_KEYS:
        if column in row:
            row[column] = "ab" * 32
    if "madid" in row:
        row["madid"] = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
    if "external_id" in row:
        row["external_id"] = "crm-1"
    return pa.Table.from_pylist([row], schema=MEMBER_SCHEMA)


def builder(method: str, path: tuple[str, ...], params: dict[str, Any]) -> FacebookRequest:
    """The SDK's own request for this call: its declared parameters and enums."""
    api = FacebookAdsApi(FacebookSession(access_token="contract"))
    node, edge = path[0], path[1] if len(path) > 1 else None
    if node.startswith("act_"):
        account = AdAccount(node, api=api)
        builders: dict[tuple[str, str | None], Callable[..., FacebookRequest]] = {
            ("GET", "customaudiences"): account.get_custom_audiences,
            ("POST", "customaudiences"): account.create_custom_audience,
            ("GET", "adsets"): account.get_ad_sets,
            ("GET", "insights"): account.get_insights,
        }
    else:
        audience = CustomAudience(node, api=api)
        remove = params.get("method") == "DELETE"
        builders = {
            ("GET", None): audience.api_get,
            ("POST", "users"): audience.delete_users if remove else audience.create_user,
            ("POST", "usersreplace"): audience.create_users_replace,
        }
    return builders[(method, edge)](pending=True)


FIELDS = {
    "customaudiences": CustomAudience.Field,
    None: CustomAudience.Field,
    "adsets": AdSet.Field,
    "insights": AdsInsights.Field,
}


def decoded(value: Any) -> Any:
    """A param as Graph reads it: JSON text (form-encoded already, for a payload) as JSON."""
    if isinstance(value, FormEncoded):
        value = unquote_plus(value)
    if isinstance(value, str) and value[:1] in "{[":
        return json.loads(value)
    return value


def check(call: tuple[str, tuple[str, ...], dict[str, Any]]) -> None:
    method, path, params = call
    request = builder(method, path, params)
    declared = request._param_checker._type_check_info
    unknown = set(params) - set(declared) - GRAPH_PARAMS
    assert not unknown, f"{method} {'/'.join(path)}: {unknown} not in the SDK's parameters"
    for name, value in params.items():
        if name in declared and name != "fields":
            assert request._param_checker.is_valid_pair(name, decoded(value)), (name, path)
    edge = path[1] if len(path) > 1 else None
    fields = params.get("fields") or []
    fields = fields.split(",") if isinstance(fields, str) else list(fields)
    if fields:
        assert set(fields) <= values(FIELDS[edge]), (path, fields)
    if "payload" in params:
        payload = decoded(params["payload"])
        assert set(payload["schema"]) <= values(CustomAudience.Schema.MultiKeySchema)
    if "session" in params:
        assert set(params["session"]) == SESSION_KEYS
        assert isinstance(params["session"]["last_batch_flag"], bool)


def test_audience_calls_send_only_what_the_sdk_declares(
    emulator: MetaGraphEmulator, sent: Sent
) -> None:
    meta = MetaCustomAudiences(destination(emulator), sleep=lambda seconds: None)
    members = every_kind()
    meta.ensure_audience("Buyers", "People who bought")
    meta.add(AUDIENCE, members)
    meta.remove(AUDIENCE, members)
    meta.replace(AUDIENCE, [members, members], total=2)
    meta.describe(AUDIENCE)
    meta.close()

    edges = {(method, path[1] if len(path) > 1 else None) for method, path, _ in sent}
    assert edges == {
        ("GET", "customaudiences"),
        ("POST", "customaudiences"),
        ("POST", "users"),
        ("POST", "usersreplace"),
        ("GET", None),
    }
    for call in sent:
        check(call)
    created = next(p for m, path, p in sent if (m, path[-1]) == ("POST", "customaudiences"))
    assert created["subtype"] == CustomAudience.Subtype.custom
    assert created["customer_file_source"] == CustomAudience.CustomerFileSource.user_provided_only
    schema = decoded(next(p for m, _, p in sent if "payload" in p)["payload"])["schema"]
    assert set(schema) == {
        key for column, key in SCHEMA_KEYS.items() if column in members.column_names
    }


def test_spend_calls_send_only_what_the_sdk_declares(
    emulator: MetaGraphEmulator, sent: Sent
) -> None:
    emulator.generate_spend(dt.date(2026, 3, 1), dt.date(2026, 3, 2))
    pull_meta(
        destination(emulator),
        [Audience(segment="carts", destination="meta", audience_id=AUDIENCE)],
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 2),
        pulled_at=dt.datetime(2026, 3, 3, tzinfo=dt.UTC),
        retry_policy=RetryPolicy(attempts=1),
    )

    assert {path[-1] for _, path, _ in sent} == {"adsets", "insights"}
    for call in sent:
        check(call)
    insights = next(p for _, path, p in sent if path[-1] == "insights")
    assert insights["level"] in values(AdsInsights.Level)
    billing = {ad_set.billing_event for ad_set in emulator.ad_sets()}
    assert billing <= values(AdSet.BillingEvent)
