"""Pushdown through whole passes: a PostgreSQL warehouse with the state beside it, synced to
both emulators once with `pushdown: true` and once without, from the same dirty rows.

Each pair of passes must plan the same (rows read, invalid counts by reason, members, held,
adds, removes, refreshes, requests), leave the same members in the state, and leave the
emulated audiences identical; the pushdown pass must not read the segment locally unless it
falls back, and must then say why in its notes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers
import psycopg
import pytest
import yaml
from conftest import FAST_RETRIES, TOKEN
from postgres_server import PostgresServer

from syncd.config import ConfigError, load_config
from syncd.pipeline import AudienceResult, PassOptions, sync_all
from syncd.pushdown.plan import PUSHED_DOWN
from syncd.read import per_pass
from syncd.read.scan import Read
from syncd.read.segments import ReadSegment
from syncd.sandbox.pair import Sandbox
from syncd.sources import Source
from syncd.state import Spill

META = {"local": "23850000000000101", "pushed": "23850000000000102"}
GOOGLE = {"local": "9000101", "pushed": "9000102"}
COLUMNS = ("email", "phone", "country", "consent_data", "consent_pers")


def e164(region: str) -> str:
    """A real mobile number in E.164, as phonenumbers (the local path) accepts it."""
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# email, phone, country, consent to data use, consent to personalization (Google only)
DIRTY: list[tuple[str | None, ...]] = [
    (" Alice.Smith@Gmail.com ", e164("US"), "us", "granted", "granted"),
    ("ALICE.SMITH@GMAIL.COM", f" {e164('US')} ", "US ", "yes", "Y"),  # her again
    ("bob@example.com", e164("GB"), "GB", None, None),  # consent by default
    ("BOB@Example.com ", e164("GB"), "gb", "true", "1"),  # him again
    ("carol@example.org", None, "DE", "granted", "granted"),
    ("not-an-email", e164("FR"), "FR", "granted", "granted"),  # the phone alone
    ("x@y", None, "XX", "granted", "granted"),  # nothing usable
    (None, None, None, None, None),  # nothing at all
    ("", "   ", "  ", "granted", "granted"),  # blanks
    ("dave@example.com", None, None, "no", "granted"),  # no consent for Google
    ("erin@example.com", e164("DE"), " de ", "granted", "denied"),  # no consent either
    ("First.Last@GoogleMail.com", None, "de", "granted", "granted"),
    ("frank@example.com", e164("AU"), "AU", "granted", "granted"),
    ("\u00c9LODIE@EX\u00c4MPLE.FR", None, "fr", "granted", "granted"),
    ("grace@example.com", e164("IT"), "it", "granted", "granted"),
    ("x" * 600 + "@example.com", e164("ES"), None, "granted", "granted"),  # email too long
    ("hank@example.com", None, "ZZ", "granted", "granted"),  # no such country
    ("ivy@example.com", e164("JP"), "JP", "granted", "granted"),
    ("jack@example.com", None, "US", "granted", "granted"),
]
LEAVING = {
    "carol@example.org",
    "frank@example.com",
    "grace@example.com",
    *(r[0] for r in DIRTY[:2]),
}
#: The churn: carol, frank and grace leave, Alice changes her phone, two people arrive.
CHURNED = [row for row in DIRTY if row[0] not in LEAVING] + [
    ("alice.smith@gmail.com", e164("CA"), "CA", "granted", "granted"),
    ("kim@example.com", e164("KR"), "KR", "granted", "granted"),
    ("Lee@Example.com", None, None, None, None),
]


@dataclass
class Warehouse:
    """A PostgreSQL database holding a `people` table and both passes' state schemas."""

    uri: str
    schema: str

    def write(self, rows: Sequence[tuple[str | None, ...]]) -> None:
        with psycopg.connect(self.uri, autocommit=True) as db:
            db.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            db.execute(f"DROP TABLE IF EXISTS {self.schema}.people")
            columns = ", ".join(f"{name} text" for name in COLUMNS)
            db.execute(f"CREATE TABLE {self.schema}.people ({columns})")
            with db.cursor().copy(f"COPY {self.schema}.people FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

    def held(self, path: str) -> set[tuple[str, str, str]]:
        """What the state of one pass says its audiences hold."""
        with psycopg.connect(self.uri) as db:
            rows = db.execute(
                f"SELECT destination, member_key, status FROM {self.schema}_{path}.members"
            ).fetchall()
        return {tuple(row) for row in rows}

    def age(self, path: str, days: int) -> None:
        """Every member of the pass's Google list was last sent `days` ago."""
        with psycopg.connect(self.uri, autocommit=True) as db:
            db.execute(
                f"UPDATE {self.schema}_{path}.members SET synced_at = now() - %s * interval "
                "'1 day' WHERE audience_id = %s",
                [days, GOOGLE[path]],
            )


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(
        meta_audiences=list(META.values()),
        google_user_lists=list(GOOGLE.values()),
        meta_access_token=TOKEN,
        google_access_token=TOKEN,
    ) as running:
        yield running


@pytest.fixture
def warehouse(postgres: PostgresServer) -> Warehouse:
    return Warehouse(postgres.uri, f"shop_{uuid.uuid4().hex[:8]}")


def config_data(
    endpoints: tuple[str, str], schema: str, path: str, **segment: object
) -> dict[str, Any]:
    """One pass's config: the same segment and networks (Meta's and Google's endpoints);
    its own audiences, and its own state schema beside the segment's `schema`."""
    return {
        "warehouse": {"kind": "postgres", "dsn": "${PG_DSN}", "pushdown": path == "pushed"},
        "segments": {
            "people": {
                "sql": f"SELECT * FROM {schema}.people",
                "identifiers": {"email": "email", "phone": "phone", "country": "country"},
                "consent": {"ad_user_data": "consent_data", "ad_personalization": "consent_pers"},
                **segment,
            }
        },
        "destinations": {
            "meta": {
                "kind": "meta",
                "ad_account_id": "act_1000",
                "access_token": "${TEST_TOKEN}",
                "endpoint": endpoints[0],
            },
            "google": {
                "kind": "google_data_manager",
                "operating_account_id": "1234567890",
                "access_token": "${TEST_TOKEN}",
                "endpoint": endpoints[1],
                "settle_seconds": 0,
            },
        },
        "audiences": [
            {"segment": "people", "destination": "meta", "audience_id": META[path]},
            {"segment": "people", "destination": "google", "audience_id": GOOGLE[path]},
        ],
        "state": {"kind": "postgres", "dsn": "${PG_DSN}", "schema": f"{schema}_{path}"},
    }


def write_config(tmp_path: Path, data: dict[str, Any], name: str = "syncd.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Passes:
    """The two configs of a test, synced side by side."""

    def __init__(
        self,
        tmp_path: Path,
        sandbox: Sandbox,
        warehouse: Warehouse,
        monkeypatch: pytest.MonkeyPatch,
        **segment: object,
    ) -> None:
        self.sandbox = sandbox
        self.monkeypatch = monkeypatch
        environ = {"TEST_TOKEN": TOKEN, "PG_DSN": warehouse.uri}
        endpoints = (sandbox.meta.base_url, sandbox.google.base_url)
        self.configs = {
            path: load_config(
                write_config(
                    tmp_path, config_data(endpoints, warehouse.schema, path, **segment), path
                ),
                environ=environ,
            )
            for path in ("local", "pushed")
        }

    def sync(self, *, pushed_reads_locally: bool = False) -> dict[str, list[AudienceResult]]:
        """Both passes; unless told it may, the pushdown pass fails on a local read."""
        options = PassOptions(retry_policy=FAST_RETRIES)
        local = sync_all(self.configs["local"], options)
        with self.monkeypatch.context() as patch:
            if not pushed_reads_locally:
                patch.setattr(per_pass, "spill_segments", _no_local_read)
            pushed = sync_all(self.configs["pushed"], options)
        return {"local": local, "pushed": pushed}

    def assert_same_audiences(self) -> None:
        meta, google = self.sandbox.meta, self.sandbox.google
        assert meta.members(META["local"]) == meta.members(META["pushed"])
        assert google.members(GOOGLE["local"]) == google.members(GOOGLE["pushed"])
        assert meta.members(META["local"]) and google.members(GOOGLE["local"])


def _no_local_read(*args: object, **kwargs: object) -> None:
    raise AssertionError("a pushdown pass read the segment locally")


def plan_of(result: AudienceResult) -> tuple[object, ...]:
    """Everything a plan decides, as a pass reports it."""
    return (
        result.status,
        result.error,
        result.rows_read,
        result.invalid,
        result.members,
        result.held_before,
        result.adds,
        result.removes,
        result.refreshes,
        result.requests,
        result.checks,
    )


def assert_same_plans(results: dict[str, list[AudienceResult]]) -> None:
    local, pushed = results["local"], results["pushed"]
    assert [r.network for r in local] == [r.network for r in pushed] == ["meta", "google"]
    for mine, theirs in zip(local, pushed, strict=True):
        assert plan_of(theirs) == plan_of(mine), mine.network
        assert mine.status == "ok", mine.error


def test_pushdown_plans_and_syncs_what_the_local_path_does(
    tmp_path: Path,
    sandbox: Sandbox,
    warehouse: Warehouse,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warehouse.write(DIRTY)
    passes = Passes(tmp_path, sandbox, warehouse, monkeypatch, trust_e164_phones=True)

    first = passes.sync()

    assert_same_plans(first)
    assert all(r.notes == [PUSHED_DOWN] for r in first["pushed"])
    assert all(r.notes == [] for r in first["local"])
    meta, google = first["local"]
    assert (meta.rows_read, meta.held_before) == (len(DIRTY), 0)
    assert meta.adds == meta.members > 0 and google.adds == google.members > 0
    # The dirty rows were refused for every reason the test means them to be.
    assert {"email:invalid_email", "email:too_long", "country:invalid_country"} <= set(meta.invalid)
    assert meta.invalid["row:no_usable_identifier"] == 3
    assert google.invalid["row:no_consent"] == 2 and "row:no_consent" not in meta.invalid
    passes.assert_same_audiences()
    assert warehouse.held("local") == warehouse.held("pushed")
    # Privacy: what a pushdown pass reports (and stores as its run record) holds no value.
    reported = json.dumps([r.summary() for r in first["pushed"]])
    identifiers = {value.strip() for row in DIRTY for value in row[:2] if value}
    assert not any(value in reported for value in identifiers if len(value) > 5)

    # Churn: people leave, arrive and change; Google's members are all due for a refresh.
    warehouse.write(CHURNED)
    for path in ("local", "pushed"):
        warehouse.age(path, days=500)  # past refresh_after_days (450)
    second = passes.sync()

    assert_same_plans(second)
    meta, google = second["local"]
    assert meta.adds and meta.removes and google.adds and google.removes
    assert google.refreshes > 0 and meta.refreshes == 0
    passes.assert_same_audiences()
    assert warehouse.held("local") == warehouse.held("pushed")

    third = passes.sync()  # nothing changed: nothing planned, nothing sent, either way

    assert_same_plans(third)
    assert [(r.adds, r.removes, r.requests) for r in third["pushed"]] == [(0, 0, 0)] * 2


#: National numbers, which only the local path reads (by the row's country).
NATIONAL = [
    ("alice@example.com", "(415) 555-0132", "US", "granted", "granted"),
    ("bob@example.com", "+44 20 7946 0958", "GB", "granted", "granted"),
    ("carol@example.org", e164("DE"), "DE", "granted", "granted"),
    ("dave@example.com", "030 123456", " de ", "granted", "granted"),
    ("erin@example.com", None, "FR", "granted", "granted"),
]


@pytest.mark.parametrize(
    ("trusted", "note"),
    [
        (True, "pushdown: 3 rows need the local path (undecidable in SQL); read locally"),
        (False, "pushdown: phones are pushed down only as E.164 numbers"),
    ],
    ids=["undecidable-rows", "phones-not-trusted"],
)
def test_segments_sql_cannot_decide_fall_back_to_the_local_path(
    trusted: bool,
    note: str,
    tmp_path: Path,
    sandbox: Sandbox,
    warehouse: Warehouse,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warehouse.write(NATIONAL)
    passes = Passes(tmp_path, sandbox, warehouse, monkeypatch, trust_e164_phones=trusted)

    results = passes.sync(pushed_reads_locally=True)

    assert_same_plans(results)
    for result in results["pushed"]:
        assert len(result.notes) == 1 and result.notes[0].startswith(note), result.notes
    assert results["local"][0].adds == 5
    passes.assert_same_audiences()
    assert warehouse.held("local") == warehouse.held("pushed")


def test_pushdown_needs_the_state_in_the_warehouse_database(tmp_path: Path) -> None:
    data = config_data(("http://127.0.0.1:1", "http://127.0.0.1:2"), "shop", "pushed")
    environ = {"TEST_TOKEN": TOKEN, "PG_DSN": "postgresql://u@127.0.0.1:1/shop"}

    def problems(state: dict[str, object]) -> list[tuple[str, str, str]]:
        path = write_config(tmp_path, {**data, "state": state})
        with pytest.raises(ConfigError) as raised:
            load_config(path, environ=environ)
        lines = path.read_text().splitlines()
        for problem in raised.value.problems:  # said at the key's own line
            assert problem.line and "pushdown:" in lines[problem.line - 1]
        return [(p.path, p.message, p.hint) for p in raised.value.problems]

    ((path, message, hint),) = problems({"kind": "duckdb", "path": "state.duckdb"})
    assert path == "warehouse.pushdown"
    assert "members table" in message and "state.kind is duckdb" in message
    assert "kind: postgres" in hint and "pushdown: false" in hint

    other_database = {"kind": "postgres", "dsn": "postgresql://u@127.0.0.1:1/other"}
    ((path, message, _),) = problems(other_database)
    assert path == "warehouse.pushdown" and "state.dsn" in message
    assert "other" not in message  # DSNs are secrets: never echoed

    same_database = {"kind": "postgres", "dsn": "${PG_DSN}", "schema": "syncd"}
    config = load_config(write_config(tmp_path, {**data, "state": same_database}), environ)
    assert config.warehouse.pushdown is True

    # BigQuery and Snowflake cannot hold the state, so they have no pushdown to turn on.
    bigquery = {
        **data,
        "warehouse": {"kind": "bigquery", "project": "my-shop-prod", "pushdown": True},
    }
    with pytest.raises(ConfigError) as raised:
        load_config(write_config(tmp_path, bigquery), environ=environ)
    assert [(p.path, p.message) for p in raised.value.problems] == [
        ("warehouse.pushdown", "unknown key")
    ]


def test_only_audiences_that_fall_back_read_the_segment_locally(
    tmp_path: Path,
    sandbox: Sandbox,
    warehouse: Warehouse,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warehouse.write(DIRTY)
    data = config_data(
        (sandbox.meta.base_url, sandbox.google.base_url),
        warehouse.schema,
        "pushed",
        trust_e164_phones=True,
    )
    data["audiences"][0]["mode"] = "replace"
    config = load_config(
        write_config(tmp_path, data), environ={"TEST_TOKEN": TOKEN, "PG_DSN": warehouse.uri}
    )
    read: list[list[str]] = []
    spill_segments = per_pass.spill_segments

    def spy(source: Source, reads: Sequence[Read], spill: Spill, *rest: Any) -> list[ReadSegment]:
        read.append(sorted(each.target.network for each in reads))
        return spill_segments(source, reads, spill, *rest)

    monkeypatch.setattr(per_pass, "spill_segments", spy)
    meta, google = sync_all(config, PassOptions(retry_policy=FAST_RETRIES))

    assert (meta.status, google.status) == ("ok", "ok")
    assert meta.notes == [
        "pushdown: mode: replace sends the whole segment, not changes; read locally"
    ]
    assert google.notes == [PUSHED_DOWN]
    assert read == [["meta"]]  # the segment was read once, for Meta's network alone
    assert meta.members == len(sandbox.meta.members(META["pushed"])) > 0
