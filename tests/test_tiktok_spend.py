"""TikTok spend per audience: the puller's httpx client against the TikTok emulator on
127.0.0.1 (ad groups and the synchronous report, paged and 30 days at a time, split evenly
across each ad group's audiences), its refusals and throttling, and `pull_spend(config)` and
`syncd spend` end to end with a TikTok destination.

Expected numbers are computed here from the emulator's own ad groups and report rows, with
the documented rule written out again, so a puller that drops, doubles, mis-splits or
mislabels a row fails.

The advertiser's audiences A, B, C, D (ids in that order): "Retargeting - Cart" (CPC) targets
A; "Retargeting - Lookalike mix" (OCPM) targets A and B; "Remarketing - Buyers" (CPC) targets
C; "Prospecting - Broad" (OCPM) targets C and excludes D, which no ad group targets.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from syncd.cli import main
from syncd.config import SyncdConfig, load_config
from syncd.config.models import Audience
from syncd.destinations.base import DestinationError, ErrorClass
from syncd.destinations.retry import RetryPolicy
from syncd.destinations.tiktok import TikTokDestination
from syncd.destinations.tiktok.sandbox import TikTokEmulator
from syncd.destinations.tiktok.spend import MAX_REPORT_DAYS, pull_spend
from syncd.spend import open_spend_store
from syncd.spend.pull import pull_spend as pull_config
from syncd.spend.table import Pulled

TOKEN = "tt-spend-token-5c1e"
ADV = "7000000000000000001"
FIRST, LAST = dt.date(2026, 2, 1), dt.date(2026, 3, 12)  # 40 days: two report spans
FAST = RetryPolicy(attempts=3, base_delay=0.0, max_delay=5.0)
PULLED_AT = dt.datetime(2026, 3, 13, tzinfo=dt.UTC)


@dataclass
class Advertiser:
    emulator: TikTokEmulator
    a: str
    b: str
    c: str
    d: str


@pytest.fixture
def tiktok() -> Iterator[Advertiser]:
    with TikTokEmulator(TOKEN, advertisers=[ADV], calls_per_window=1_000) as emulator:
        ids = [
            emulator.add_audience(advertiser=ADV, name=n)
            for n in ("Carts", "Wishlist users", "Buyers", "Churned")
        ]
        emulator.generate_spend(FIRST, LAST, ids, seed=11, advertiser_id=ADV)
        yield Advertiser(emulator, *ids)


def settings(emulator: TikTokEmulator) -> TikTokDestination:
    return TikTokDestination(
        kind="tiktok", advertiser_id=ADV, access_token=TOKEN, endpoint=emulator.base_url
    )


def pull(
    advertiser: Advertiser,
    managed: dict[str, str],
    *,
    page_size: int = 1_000,
    policy: RetryPolicy = FAST,
    sleep: Any = lambda seconds: None,
) -> Pulled:
    audiences = [Audience(segment=s, destination="tt", audience_id=i) for i, s in managed.items()]
    return pull_spend(
        settings(advertiser.emulator),
        audiences,
        FIRST,
        LAST,
        pulled_at=PULLED_AT,
        retry_policy=policy,
        sleep=sleep,
        page_size=page_size,
    )


def even_parts(total: int, ids: list[str]) -> dict[str, int]:
    """The documented rule for whole numbers: as even as possible, the remainder one each to
    the lowest ids."""
    quotient, remainder = divmod(total, len(ids))
    return {i: quotient + (1 if n < remainder else 0) for n, i in enumerate(sorted(ids, key=int))}


def expected(emulator: TikTokEmulator, managed: dict[str, str]) -> dict[tuple, dict]:
    """(date, ad group, audience) -> a managed audience's share of each ad group's day: 1/n
    of its spend, n counting every audience it targets (exclusions are not targeting)."""
    found = {}
    for row in emulator.report_rows(ADV):
        targeted = list(row.ad_group.audience_ids)
        impressions, clicks = (
            even_parts(row.impressions, targeted),
            even_parts(row.clicks, targeted),
        )
        for audience_id in targeted:
            if audience_id in managed:
                found[(row.day, row.ad_group.id, audience_id)] = {
                    "segment": managed[audience_id],
                    "campaign_id": row.ad_group.campaign_id,
                    "ad_set_name": row.ad_group.name,
                    "cost": row.spend_cents / 100 / len(targeted),
                    "share": 1 / len(targeted),
                    "impressions": impressions[audience_id],
                    "clicks": clicks[audience_id],
                    "currency": "USD",
                    "billing_model": {"CPC": "CPC", "OCPM": "CPM"}[row.ad_group.billing_event],
                }
    return found


def by_key(rows: list[dict]) -> dict[tuple, dict]:
    keyed = {(r["date"], r["ad_set_id"], r["audience_id"]): r for r in rows}
    assert len(keyed) == len(rows)  # no key twice
    return keyed


def assert_rows(rows: list[dict], want: dict[tuple, dict]) -> None:
    got = by_key(rows)
    assert got.keys() == want.keys()
    for key, numbers in want.items():
        row = got[key]
        assert row["network"] == "tiktok" and row["account_id"] == ADV
        assert row["allocation"] == "even_split"
        assert row["cost"] == pytest.approx(numbers.pop("cost")), key
        assert row["share"] == pytest.approx(numbers.pop("share")), key
        assert {k: row[k] for k in numbers} == numbers, key


# -- the puller against the emulator ---------------------------------------------------------


def test_each_audience_gets_its_exact_share_per_day_across_pages_and_spans(
    tiktok: Advertiser,
) -> None:
    managed = {tiktok.a: "carts", tiktok.b: "wishlist", tiktok.c: "buyers"}
    pulled = pull(tiktok, managed, page_size=3)

    want = expected(tiktok.emulator, managed)
    assert_rows(pulled.rows.to_pylist(), want)
    assert pulled.audience_ids == tuple(sorted(managed)) and pulled.notes == ()
    # per audience per day, the shares add up to what TikTok reported for its ad groups
    sums: dict[tuple[dt.date, str], float] = defaultdict(float)
    for row in pulled.rows.to_pylist():
        sums[(row["date"], row["audience_id"])] += row["cost"]
    for row in tiktok.emulator.report_rows(ADV):
        for audience_id in row.ad_group.audience_ids:
            sums[(row.day, audience_id)] -= row.spend_cents / 100 / len(row.ad_group.audience_ids)
    assert all(abs(left) < 1e-9 for left in sums.values())
    # 4 ad groups at 3 a page; 30 then 10 days of 4 rows at 3 a page
    operations = [r.operation for r in tiktok.emulator.requests]
    assert operations.count("adgroup_get") == 2
    days = (LAST - FIRST).days + 1
    spans = [MAX_REPORT_DAYS, days - MAX_REPORT_DAYS]
    assert operations.count("report") == sum(math.ceil(4 * span / 3) for span in spans)


def test_an_audience_shared_by_an_ad_group_gets_half_and_the_whole_adds_up(
    tiktok: Advertiser,
) -> None:
    pulled = pull(tiktok, {tiktok.a: "carts", tiktok.b: "wishlist"})

    mix = next(g for g in tiktok.emulator.ad_groups(ADV) if g.audience_ids == (tiktok.a, tiktok.b))
    rows = [r for r in pulled.rows.to_pylist() if r["ad_set_id"] == mix.id]
    assert {r["share"] for r in rows} == {0.5} and {r["billing_model"] for r in rows} == {"CPM"}
    for report in (r for r in tiktok.emulator.report_rows(ADV) if r.ad_group.id == mix.id):
        halves = [r for r in rows if r["date"] == report.day]
        assert sum(r["impressions"] for r in halves) == report.impressions
        assert sum(r["clicks"] for r in halves) == report.clicks
        assert sum(r["cost"] for r in halves) == pytest.approx(report.spend_cents / 100)


def test_an_audience_only_excluded_gets_nothing(tiktok: Advertiser) -> None:
    broad = next(g for g in tiktok.emulator.ad_groups(ADV) if g.excluded_audience_ids)
    assert broad.excluded_audience_ids == (tiktok.d,)
    assert all(tiktok.d not in g.audience_ids for g in tiktok.emulator.ad_groups(ADV))

    pulled = pull(tiktok, {tiktok.d: "churned", tiktok.c: "buyers"})

    assert {r["audience_id"] for r in pulled.rows.to_pylist()} == {tiktok.c}
    assert tiktok.d in pulled.audience_ids  # its window is cleared: nothing is the truth
    broad_rows = [r for r in pulled.rows.to_pylist() if r["ad_set_id"] == broad.id]
    assert broad_rows and {r["share"] for r in broad_rows} == {1.0}  # C alone, not 1/2


def test_a_deleted_ad_group_keeps_its_spend(tiktok: Advertiser) -> None:
    cart = next(g for g in tiktok.emulator.ad_groups(ADV) if g.name == "Retargeting - Cart")
    tiktok.emulator.delete_ad_group(cart.id, advertiser_id=ADV)

    pulled = pull(tiktok, {tiktok.a: "carts"})

    assert_rows(pulled.rows.to_pylist(), expected(tiktok.emulator, {tiktok.a: "carts"}))
    assert any(r["ad_set_id"] == cart.id for r in pulled.rows.to_pylist())


def test_audiences_given_by_name_are_found_and_a_missing_name_is_a_note(
    tiktok: Advertiser,
) -> None:
    audiences = [
        Audience(segment="wishlist", destination="tt", audience_name="Wishlist users"),
        Audience(segment="later", destination="tt", audience_name="Not made yet"),
    ]
    pulled = pull_spend(
        settings(tiktok.emulator), audiences, FIRST, LAST, pulled_at=PULLED_AT, retry_policy=FAST
    )

    assert pulled.audience_ids == (tiktok.b,)
    assert_rows(pulled.rows.to_pylist(), expected(tiktok.emulator, {tiktok.b: "wishlist"}))
    assert len(pulled.notes) == 1 and "'Not made yet'" in pulled.notes[0]


@pytest.mark.parametrize(
    ("code", "words"),
    [(40105, "authorize syncd's TikTok app again"), (40001, "Operator or Admin")],
)
def test_a_refusal_fails_the_pull_with_the_fix(tiktok: Advertiser, code: int, words: str) -> None:
    tiktok.emulator.fail_next(code, path="/report/integrated/get/")

    with pytest.raises(DestinationError) as raised:
        pull(tiktok, {tiktok.a: "carts"})

    assert raised.value.error_class is ErrorClass.FAIL_AUDIENCE
    assert f"code {code}" in str(raised.value) and words in str(raised.value)
    assert tiktok.emulator.pending_failures() == 0


def test_a_system_error_is_retried_and_the_pull_lands_whole(tiktok: Advertiser) -> None:
    tiktok.emulator.fail_next(50000, times=2, path="/adgroup/get/")

    pulled = pull(tiktok, {tiktok.a: "carts"})

    assert_rows(pulled.rows.to_pylist(), expected(tiktok.emulator, {tiktok.a: "carts"}))
    assert tiktok.emulator.pending_failures() == 0


def test_a_spent_app_budget_waits_on_40100_then_reads_on(tiktok: Advertiser) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)  # the pacer keeps time on the real clock

    tiktok.emulator.set_rate_limit(5, window_seconds=1.0)
    tiktok.emulator.exhaust_budget()
    pulled = pull(tiktok, {tiktok.a: "carts"}, sleep=sleep, page_size=200)

    assert_rows(pulled.rows.to_pylist(), expected(tiktok.emulator, {tiktok.a: "carts"}))
    assert waits and max(waits) >= 1.0  # TikTok's second, not a hammering retry
    assert any(r.status == 200 and r.operation == "adgroup_get" for r in tiktok.emulator.requests)


# -- end to end: the config, the spend table, `syncd spend` ---------------------------------


def config_data(tiktok: Advertiser) -> dict:
    segment = {"sql": "select email from people", "identifiers": {"email": "email"}}
    return {
        "warehouse": {"kind": "duckdb", "path": "shop.duckdb"},
        "segments": {name: segment for name in ("carts", "wishlist", "churned")},
        "destinations": {
            "tiktok": {
                "kind": "tiktok",
                "advertiser_id": ADV,
                "access_token": "${TIKTOK_ACCESS_TOKEN}",
                "endpoint": tiktok.emulator.base_url,
            }
        },
        "audiences": [
            {"segment": "carts", "destination": "tiktok", "audience_id": tiktok.a},
            {"segment": "wishlist", "destination": "tiktok", "audience_name": "Wishlist users"},
            {"segment": "churned", "destination": "tiktok", "audience_id": tiktok.d},
        ],
        "state": {"path": "state.duckdb"},
    }


@pytest.fixture
def config_path(tmp_path: Path, tiktok: Advertiser) -> Path:
    path = tmp_path / "syncd.yaml"
    path.write_text(yaml.safe_dump(config_data(tiktok), sort_keys=False))
    return path


def stored(config: SyncdConfig) -> list[dict]:
    with open_spend_store(config) as store:
        return store.rows(FIRST - dt.timedelta(days=60), LAST).to_pylist()


def test_pull_spend_of_a_config_writes_tiktok_rows_to_the_spend_table(
    tiktok: Advertiser, config_path: Path
) -> None:
    config = load_config(config_path, environ={"TIKTOK_ACCESS_TOKEN": TOKEN})

    summary = pull_config(config, FIRST, LAST, retry_policy=FAST)

    (only,) = summary.pulls
    assert (only.destination, only.network, only.account_id) == ("tiktok", "tiktok", ADV)
    assert only.status == "ok" and only.error is None
    managed = {tiktok.a: "carts", tiktok.b: "wishlist", tiktok.d: "churned"}
    want = expected(tiktok.emulator, managed)
    assert only.rows == len(want) > 0
    assert_rows(stored(config), want)
    assert summary.rows_by_network == {"tiktok": len(want)}

    again = pull_config(config, FIRST, LAST, retry_policy=FAST)  # pulling twice changes nothing
    assert again.pulls[0].rows == len(want) and len(stored(config)) == len(want)


def test_cli_spend_pulls_tiktok_and_reports_a_refused_token(
    tiktok: Advertiser, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOK_ACCESS_TOKEN", TOKEN)
    runner = CliRunner()
    window = ["--since", str(FIRST), "--until", str(LAST)]

    spent = runner.invoke(main, ["spend", str(config_path), *window])

    assert spent.exit_code == 0, spent.output
    rows = len(expected(tiktok.emulator, {tiktok.a: "carts", tiktok.b: "wishlist"}))
    assert re.search(
        rf"^tiktok \(tiktok {ADV}\): {FIRST} to {LAST}, {rows:,} rows, ok$",
        spent.output,
        re.MULTILINE,
    )
    assert TOKEN not in spent.output

    tiktok.emulator.revoke_token()
    failed = runner.invoke(main, ["spend", str(config_path), *window])
    assert failed.exit_code == 1 and "error: tiktok:" in failed.output and "40105" in failed.output
    assert TOKEN not in failed.output
