"""The spend table and the report over it, on both state backends, without any network."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from syncd.spend.report import SpendReport, by_segment, daily_cost, period
from syncd.spend.store import SpendStore
from syncd.spend.table import SPEND_SCHEMA
from syncd.state.backends import DuckDBBackend, PostgresBackend

NOW = dt.datetime(2026, 11, 26, 4, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 20)


def row(**overrides: object) -> dict:
    base = dict(
        date=DAY,
        network="google",
        account_id="1234567890",
        campaign_id="c1",
        campaign_name="Display remarketing",
        ad_set_id="g1",
        ad_set_name="carts",
        audience_id="9000001",
        segment="abandoned_carts",
        impressions=10_000,
        clicks=50,
        cost=100.0,
        currency="USD",
        cpc=2.0,
        cpm=10.0,
        billing_model="CPC",
        share=1.0,
        allocation="criterion",
        pulled_at=NOW,
    )
    base.update(overrides)
    return base


def table(*rows: dict) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=SPEND_SCHEMA)


@pytest.fixture(params=["duckdb", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], SpendStore]:
    if request.param == "duckdb":
        return lambda: SpendStore(DuckDBBackend(tmp_path / "state.duckdb"))
    uri = request.getfixturevalue("postgres_uri")
    schema = f"spend_{uuid.uuid4().hex[:10]}"
    return lambda: SpendStore(PostgresBackend(uri, schema))


def test_upserts_are_idempotent_and_apply_restatements(store: Callable[[], SpendStore]) -> None:
    first = table(row(), row(date=DAY + dt.timedelta(days=1), cost=80.0))
    with store() as spend:
        assert spend.upsert(first) == 2
        assert spend.upsert(first) == 2  # the same pull again changes nothing
        assert spend.rows(DAY, DAY + dt.timedelta(days=1)).to_pylist() == first.to_pylist()

        restated = table(row(cost=120.0, clicks=60, cpc=2.0, cpm=12.0))  # the network restated
        spend.upsert(restated)
        held = spend.rows(DAY, DAY + dt.timedelta(days=1)).to_pylist()
    assert [(r["date"], r["cost"], r["clicks"]) for r in held] == [
        (DAY, 120.0, 60),
        (DAY + dt.timedelta(days=1), 80.0, 50),
    ]


def test_report_totals_and_ratios_come_from_the_rows() -> None:
    rows = table(
        row(),
        row(ad_set_id="g2", impressions=30_000, clicks=0, cost=60.0, billing_model="CPM"),
        row(network="meta", account_id="act_1", ad_set_id="s1", audience_id="2385",
            impressions=4_000, clicks=40, cost=25.0, share=0.5, allocation="even_split"),
        row(segment="non_buyers", audience_id="9000002", impressions=1_000, clicks=0, cost=3.0,
            date=DAY + dt.timedelta(days=2)),
    )  # fmt: skip
    segments = by_segment(rows, {("abandoned_carts", "google"): 1_500})

    google = next(s for s in segments if (s.segment, s.network) == ("abandoned_carts", "google"))
    assert (google.cost, google.impressions, google.clicks) == (160.0, 40_000, 50)
    assert google.cpc == pytest.approx(3.2)  # 160 / 50
    assert google.cpm == pytest.approx(4.0)  # 160 / 40,000 x 1,000
    assert google.billing_models == "CPC+CPM"
    assert google.audience_members == 1_500
    quiet = next(s for s in segments if s.segment == "non_buyers")
    assert quiet.cpc is None  # no clicks: no cost per click, not infinity
    assert [s.segment for s in segments] == ["abandoned_carts", "abandoned_carts", "non_buyers"]
    assert daily_cost(rows)["abandoned_carts"] == {DAY: 185.0}
    assert period(rows) == (DAY, DAY + dt.timedelta(days=2))


def test_the_html_page_is_self_contained_and_carries_the_numbers() -> None:
    rows = table(row(), row(segment="non_buyers", audience_id="9000002", cost=40.0))
    report = SpendReport(DAY, DAY, rows, by_segment(rows))

    page = report.html()

    assert page.startswith("<!doctype html>") and page.count("<svg") == 3
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing is fetched
    assert "<script" not in page
    assert "100.00 USD" in page and "40.00 USD" in page
    assert "abandoned_carts" in page and "non_buyers" in page
    text = report.text()
    assert "abandoned_carts  google" in text and "2.00" in text


def test_a_pull_replaces_its_window_for_its_audiences_only(
    store: Callable[[], SpendStore],
) -> None:
    later = DAY + dt.timedelta(days=5)
    held = table(
        row(network="meta", account_id="act_1", ad_set_id="s1", audience_id="A", share=0.5),
        row(network="meta", account_id="act_1", ad_set_id="s1", audience_id="B", share=0.5),
        row(network="meta", account_id="act_1", ad_set_id="s1", audience_id="B", date=later),
        row(network="meta", account_id="act_2", ad_set_id="s1", audience_id="B", share=0.5),
        row(network="meta", account_id="act_1", ad_set_id="s1", audience_id="X"),
    )  # fmt: skip
    now_only_a = table(
        row(network="meta", account_id="act_1", ad_set_id="s1", audience_id="A", cost=200.0)
    )
    with store() as spend:
        spend.upsert(held)
        assert spend.pulled_until("meta", "act_1") is None

        written = spend.replace_window(
            now_only_a,
            network="meta",
            account_id="act_1",
            audience_ids=("A", "B"),
            since=DAY,
            until=DAY + dt.timedelta(days=1),
        )
        spend.record_pull("meta", "act_1", DAY + dt.timedelta(days=1))
        spend.record_pull("meta", "act_1", DAY)  # an explicit older window never moves it back
        kept = spend.rows(DAY, later).to_pylist()

        assert written == 1
        assert spend.pulled_until("meta", "act_1") == DAY + dt.timedelta(days=1)
    # The ad set no longer targets B: its old half on DAY goes (it would count twice beside
    # A's whole); B's later day, act_2 and the audience the pull did not cover stay.
    assert sorted((r["account_id"], r["audience_id"], r["date"], r["cost"]) for r in kept) == [
        ("act_1", "A", DAY, 200.0),
        ("act_1", "B", later, 100.0),
        ("act_1", "X", DAY, 100.0),
        ("act_2", "B", DAY, 100.0),
    ]
