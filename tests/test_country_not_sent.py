"""A network that is not sent a country (TikTok) still reads each phone by its row's country.

The segment maps a `country` identifier and no `country_column`: Google is sent the country
(with a complete address only) and TikTok is not, yet a national number means the same
person to both. Through whole passes on the emulators, TikTok must hold exactly the phones
Google holds, each the E.164 number phonenumbers reads for the row's country (written out
here, not by syncd); a row whose country changes must change the number sent, by
fingerprint as well (the second pass matches rows by fingerprint). In a warehouse with
pushdown, SQL never reads a country: phones pass through only as E.164, and national numbers
send the segment to the local path, where the same holds.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import phonenumbers
import pyarrow as pa
import pytest
from conftest import GOOGLE_LIST, TOKEN, Workspace, sha
from support.targets import target_for

from syncd.config.models import Segment
from syncd.destinations.tiktok import CAPABILITIES as TIKTOK
from syncd.destinations.tiktok.sandbox import TikTokEmulator
from syncd.fingerprints import Fingerprints
from syncd.identity import IdentifierKind, versions
from syncd.members import MEMBER_SCHEMA, SegmentShape
from syncd.pipeline import AudienceResult, PassOptions, sync_all
from syncd.pushdown import plan as pushdown
from syncd.pushdown.dialects import Dialect
from syncd.pushdown.queries import SegmentStats, StateTable, build_queries
from syncd.read.scan import read_segment
from syncd.sources.duckdb import DuckDBSource

ADVERTISER = "7000000000000000001"
TIKTOK_AUDIENCE = "180000777"
#: A TikTok destination no test of a single stage sends to (the port is closed).
TIKTOK_SETTINGS = {
    "kind": "tiktok",
    "advertiser_id": ADVERTISER,
    "access_token": "unused",
    "endpoint": "http://127.0.0.1:9",
}
#: Valid in France (+33) and in the Netherlands (+31) alike: only the country tells which.
FR_OR_NL = "06 12 34 56 78"
# (email, phone, country, first name, last name, zip): national numbers of several countries.
PEOPLE: list[tuple[str | None, ...]] = [
    ("uk@example.com", "020 7946 0958", "GB", None, None, None),
    ("de@example.com", "030 123456", "DE", None, None, None),
    ("fr@example.com", FR_OR_NL, "FR", None, None, None),
    ("au@example.com", "0412 345 678", " au ", None, None, None),
    ("us@example.com", "(415) 555-0132", "US", None, None, None),
    ("nocountry@example.com", "(212) 555-0147", None, None, None, None),  # default_country
    ("intl@example.com", "+44 7400 123456", "DE", None, None, None),  # "+": any country
]


def e164(phone: str, country: str | None) -> str:
    """The number phonenumbers reads for the row's country (US when it has none)."""
    number = phonenumbers.parse(phone, (country or "US").strip().upper())
    assert phonenumbers.is_valid_number(number), (phone, country)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def expected_phones(rows: Sequence[tuple[str | None, ...]]) -> set[str]:
    return {sha(e164(row[1], row[2])) for row in rows if row[1]}


@pytest.fixture
def tiktok() -> Iterator[TikTokEmulator]:
    with TikTokEmulator(TOKEN, advertisers=[ADVERTISER]) as emulator:
        emulator.add_audience(TIKTOK_AUDIENCE, advertiser=ADVERTISER)
        yield emulator


def config_data(workspace: Workspace, tiktok: TikTokEmulator) -> dict[str, Any]:
    """The people segment with a `country` identifier and no country_column, to Google and
    to TikTok."""
    data = workspace.config_data()
    data["segments"]["people"] = {
        "sql": "select * from people",
        "identifiers": {"email": "email", "phone": "phone", "country": "country"},
        "default_country": "US",
    }
    data["destinations"].pop("meta")
    data["destinations"]["tiktok"] = {
        "kind": "tiktok",
        "advertiser_id": ADVERTISER,
        "access_token": "${TEST_TOKEN}",
        "endpoint": tiktok.base_url,
    }
    data["audiences"] = [
        {"segment": "people", "destination": "google", "audience_id": GOOGLE_LIST},
        {"segment": "people", "destination": "tiktok", "audience_id": TIKTOK_AUDIENCE},
    ]
    return data


def google_phones(workspace: Workspace) -> set[str]:
    members = workspace.sandbox.google.members(GOOGLE_LIST)
    return {value for member in members for kind, value in member if kind == "phoneNumber"}


def tiktok_phones(tiktok: TikTokEmulator) -> set[str]:
    return {value for kind, value in tiktok.members(TIKTOK_AUDIENCE) if kind == "PHONE_SHA256"}


def by_network(results: list[AudienceResult]) -> dict[str, AudienceResult]:
    for result in results:
        assert result.status == "ok", (result.network, result.error)
    return {result.network: result for result in results}


def test_tiktok_reads_phones_by_the_rows_country_as_google_does(
    workspace: Workspace, tiktok: TikTokEmulator
) -> None:
    workspace.write_people(PEOPLE)
    data = config_data(workspace, tiktok)

    first = by_network(workspace.sync(data))

    assert google_phones(workspace) == tiktok_phones(tiktok) == expected_phones(PEOPLE)
    for network in ("google", "tiktok"):
        assert "phone:invalid_phone" not in first[network].invalid, first[network].invalid

    # The French number's row moves to the Netherlands: the same text, another person's number.
    moved = [(*row[:2], "NL", *row[3:]) if row[1] == FR_OR_NL else row for row in PEOPLE]
    workspace.write_people(moved)
    second = by_network(workspace.sync(data))

    assert sha(e164(FR_OR_NL, "NL")) in tiktok_phones(tiktok)
    assert google_phones(workspace) == tiktok_phones(tiktok) == expected_phones(moved)
    assert (second["tiktok"].adds, second["tiktok"].removes) == (1, 1)


def test_the_country_that_reads_a_phone_is_fingerprinted_where_it_is_not_sent() -> None:
    """Two rows alike but for their country are two fingerprints: the country decides the
    phone even for a network that is not sent it."""
    segment = Segment(
        sql="select 1",
        identifiers={"email": "email", "phone": "phone", "country": "country"},
    )
    carried = [kind for kind in segment.identifiers if kind in TIKTOK.identifier_kinds]
    fingerprints = Fingerprints.of(segment, TIKTOK.dialect, carried, None)
    assert IdentifierKind.COUNTRY not in carried and "country" in fingerprints.columns

    rows = pa.table(
        {"email": ["a@example.com"] * 2, "phone": [FR_OR_NL] * 2, "country": ["FR", "NL"]}
    )
    raw = fingerprints.raw(rows)
    assert raw is not None
    with duckdb.connect() as db:
        db.register("raw", raw)
        first, second = db.execute(f"SELECT {fingerprints.sql()} FROM raw").fetchall()
    assert first != second


def test_the_salt_names_the_column_the_country_comes_from() -> None:
    """Reading the country from another column changes every fingerprint; naming the same
    column as the country identifier or as `country_column` does not."""
    identifiers = {"email": "email", "phone": "phone"}
    carried = [IdentifierKind.EMAIL, IdentifierKind.PHONE]

    def salt(**mapping: Any) -> str:
        segment = Segment(sql="select 1", **mapping)
        return Fingerprints.of(segment, TIKTOK.dialect, carried, None).salt

    by_identifier = salt(identifiers={**identifiers, "country": "ship_country"})
    assert salt(identifiers={**identifiers, "country": "country"}) != by_identifier
    assert salt(identifiers=identifiers, country_column="ship_country") == by_identifier


def test_audiences_synced_by_version_2_are_re_keyed_once_and_the_plan_says_why(
    workspace: Workspace, tiktok: TikTokEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Version 2 read TikTok's phones by the default country: the next pass re-reads every
    row (the fingerprints carry the rules version), re-keys the people whose phone it read
    wrong (here: refused), and its plan names the change."""
    workspace.write_people(PEOPLE)
    data = config_data(workspace, tiktok)

    def v2_carried(shape: SegmentShape, kinds: Collection[IdentifierKind]) -> SegmentShape:
        identifiers = {k: c for k, c in shape.identifiers.items() if k in kinds}
        return SegmentShape(identifiers, shape.country_column, shape.default_country)

    with monkeypatch.context() as old:
        old.setattr(versions, "RULES_VERSION", 2)
        old.setattr(SegmentShape, "carried", v2_carried)
        by_network(workspace.sync(data))
    lost = expected_phones(PEOPLE) - tiktok_phones(tiktok)
    assert lost, "version 2 refused national numbers of other countries as US numbers"

    (planned,) = [
        r
        for r in sync_all(workspace.config(data), PassOptions(apply=False))
        if r.network == "tiktok"
    ]
    (check,) = [c for c in planned.checks if c.startswith(versions.CHECK_NAME)]
    assert f"rules v{versions.RULES_VERSION}; identity rules changed" in check
    assert "since the last pass (v2)" in check and "row's country" in check
    # Each of those people is one member whose phone now goes with the email: re-keyed.
    assert planned.removes == planned.adds == len(lost)

    again = by_network(workspace.sync(data))
    assert tiktok_phones(tiktok) == expected_phones(PEOPLE) == google_phones(workspace)
    assert again["google"].adds == again["google"].removes == 0


# -- pushdown: SQL never reads a country, and never needs to -----------------------------------

#: (email, phone, country): E.164 numbers, which read the same in any country (or none).
E164_PEOPLE = [
    ("uk@example.com", "+442079460958", "GB"),
    ("de@example.com", "+4930123456", "US"),
    ("nl@example.com", " +31612345678 ", "NL"),
    ("x@example.com", "+14155550132", None),
]


def people_warehouse(path: Path, rows: Sequence[tuple[str | None, ...]]) -> DuckDBSource:
    table = pa.table(
        {
            name: pa.array([row[i] for row in rows], pa.string())
            for i, name in enumerate(("email", "phone", "country"))
        }
    )
    with duckdb.connect(str(path)) as db:
        db.register("incoming", table)
        db.execute("CREATE TABLE people AS SELECT * FROM incoming")
    return DuckDBSource(path)


@pytest.mark.parametrize(
    ("rows", "undecidable"),
    # Every phone of PEOPLE is national, or international with spaces SQL does not read.
    [(E164_PEOPLE, 0), ([row[:3] for row in PEOPLE], len(PEOPLE))],
    ids=["e164", "national"],
)
def test_tiktoks_pushdown_plans_what_its_local_path_plans_or_leaves_it_the_segment(
    rows: Sequence[tuple[str | None, ...]], undecidable: int, tmp_path: Path
) -> None:
    """Pushed down, TikTok's phones pass through as E.164 (the reference reads "+" numbers
    whatever the country); a national number makes its row undecidable, and the segment goes
    to the local path, which reads it by the row's country (the tests above)."""
    segment = Segment(
        sql="select * from people",
        identifiers={"email": "email", "phone": "phone", "country": "country"},
        default_country="US",
        trust_e164_phones=True,
    )
    target = target_for(segment, TIKTOK_SETTINGS, TIKTOK_AUDIENCE)
    assert pushdown.refusal(target) is None
    carried = {k: c for k, c in segment.identifiers.items() if k in TIKTOK.identifier_kinds}
    queries = build_queries(
        segment.sql,
        carried,
        TIKTOK.dialect,
        StateTable("state_members", "tiktok", TIKTOK_AUDIENCE),
        Dialect.DUCKDB,
        trust_e164_phones=True,
    )
    warehouse = tmp_path / "shop.duckdb"
    local = read_segment(people_warehouse(warehouse, rows), target)

    with duckdb.connect(str(warehouse), read_only=True) as db:
        cursor = db.execute(queries.stats)
        names = [column[0] for column in cursor.description]
        stats = SegmentStats.from_row(dict(zip(names, cursor.fetchone() or (), strict=True)))
        pushed = db.execute(queries.members).fetchall()

    assert stats.undecidable_rows == undecidable
    if not undecidable:
        expected = {sha(e164(row[1], row[2])) for row in rows if row[1]}
        assert set(local.members["phone"].to_pylist()) == expected
        names = MEMBER_SCHEMA.names
        assert sorted((str(row[0]), *row[1:]) for row in pushed) == sorted(
            zip(*(local.members[name].to_pylist() for name in names), strict=True)
        )
