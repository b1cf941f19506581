"""Issue 25's target for `syncd forget`: 10,000 people erased from 12 audiences on two networks
(6 Meta custom audiences, 6 Data Manager user lists, each holding all of them) take no more
than ceil(people per audience / 10,000) removal requests per audience, counted at the
emulators, and every audience's record is confirmed (exit 0, every outcome done)."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TOKEN, Workspace

from syncd.cli import main
from syncd.pipeline import PassOptions, sync_all
from syncd.sandbox.pair import Sandbox

PEOPLE = 10_000
SEGMENTS = 6  # each to both networks: 12 audiences
META_IDS = [f"2385000000000010{i}" for i in range(SEGMENTS)]
GOOGLE_IDS = [f"900010{i}" for i in range(SEGMENTS)]
BATCH = 10_000  # both networks' limit per request


@pytest.fixture
def twelve(tmp_path: Path) -> Iterator[Workspace]:
    with Sandbox(
        meta_audiences=META_IDS,
        google_user_lists=GOOGLE_IDS,
        meta_access_token=TOKEN,
        google_access_token=TOKEN,
    ) as sandbox:
        yield Workspace(tmp_path, sandbox)


def config_data(workspace: Workspace) -> dict:
    data = workspace.config_data()
    data["segments"] = {
        f"s{i}": {
            "sql": "select * from people",
            "identifiers": {"email": "email", "phone": "phone"},
            "country_column": "country",
        }
        for i in range(SEGMENTS)
    }
    data["audiences"] = [
        {"segment": f"s{i}", "destination": destination, "audience_id": ids[i]}
        for i in range(SEGMENTS)
        for destination, ids in (("meta", META_IDS), ("google", GOOGLE_IDS))
    ]
    return data


def test_ten_thousand_people_leave_twelve_audiences_in_one_request_each(
    twelve: Workspace,
) -> None:
    emails = [f"shopper{i}@example.com" for i in range(PEOPLE)]
    phones = [f"+1415555{i:04d}" for i in range(PEOPLE)]
    twelve.write_people(
        list(zip(emails, phones, ["US"] * PEOPLE, *[[None] * PEOPLE] * 3, strict=True))
    )
    data = config_data(twelve)
    twelve.write_config(data)
    started = time.monotonic()
    results = sync_all(twelve.config(data), PassOptions(destinations_at_once=2))
    setup = time.monotonic() - started
    assert [r.status for r in results] == ["ok"] * 2 * SEGMENTS
    for emulator in (twelve.sandbox.meta, twelve.sandbox.google):
        emulator.clear_requests()

    # The CRM's list, with both kinds: a national phone beside every tenth email.
    lines = [
        f"{email.upper()},{'(415) 555-' + phone[-4:] if i % 10 == 0 else ''}"
        for i, (email, phone) in enumerate(zip(emails, phones, strict=True))
    ]
    path = twelve.root / "erase.csv"
    path.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    result = CliRunner().invoke(
        main,
        [
            *("forget", str(twelve.root / "syncd.yaml"), "--kind", "email", "--kind", "phone"),
            *("--default-country", "US", "--file", str(path), "--json"),
        ],
        env={"TEST_TOKEN": TOKEN},
    )
    forgetting = time.monotonic() - started
    assert result.exit_code == 0, result.output

    # Meta names the audience in the path; Data Manager in the body (one list a request).
    meta = Counter(
        r.path for r in twelve.sandbox.meta.requests if r.operation == "remove" and r.status == 200
    )
    assert sorted(meta.values()) == [math.ceil(PEOPLE / BATCH)] * SEGMENTS and len(meta) == SEGMENTS
    google = [
        r.count
        for r in twelve.sandbox.google.requests
        if r.operation == "remove" and r.status == 200
    ]
    assert google == [PEOPLE] * SEGMENTS * math.ceil(PEOPLE / BATCH)
    for audience_id in META_IDS:
        assert not twelve.sandbox.meta.members(audience_id)
    for list_id in GOOGLE_IDS:
        assert not twelve.sandbox.google.members(list_id)

    (record,) = json.loads(result.stdout)
    assert record["status"] == "done" and record["people"] == PEOPLE
    assert {(o["outcome"], o["members"], o["requests"]) for o in record["outcomes"]} == {
        ("done", PEOPLE, 1)
    }
    assert len(record["outcomes"]) == 2 * SEGMENTS
    print(f"\nsetup (first sync of 12 audiences): {setup:.1f} s; forget: {forgetting:.1f} s")
