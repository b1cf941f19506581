"""The Graph API form body syncd sends is byte for byte what requests would have sent."""

from __future__ import annotations

import json

import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.destinations.meta.form import FormSession, form_encode


def requests_body(fields: dict[str, object]) -> str:
    prepared = requests.Request("POST", "http://127.0.0.1/", data=fields).prepare()
    body = prepared.body
    return body.decode() if isinstance(body, bytes) else str(body or "")


def test_a_payload_of_hashes_encodes_as_requests_would() -> None:
    payload = {"schema": ["EMAIL", "PHONE"], "data": [["a" * 64, ""], ["b" * 64, "c" * 64]]}
    fields = {
        "payload": json.dumps(payload, separators=(",", ":")),
        "session": json.dumps({"session_id": 7, "last_batch_flag": True}),  # has spaces
        "method": "DELETE",
        "batch_seq": 3,
        "skipped": None,
    }
    assert form_encode(fields) == requests_body(fields)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(st.text(), st.integers())))
def test_any_fields_encode_as_requests_would(fields: dict[str, object]) -> None:
    assert form_encode(fields) == requests_body(fields)


def test_the_session_keeps_the_sdk_sessions_defaults() -> None:
    sdk = requests.Session()
    sdk.params.update({"access_token": "t"})
    sdk.verify = "/path/to/ca.pem"
    form = FormSession.like(sdk)
    assert (form.params, form.verify) == ({"access_token": "t"}, "/path/to/ca.pem")
