"""Spend per audience, end to end: the real google-ads and facebook-business clients against
the emulators on 127.0.0.1, into the spend table, and out as the report.

Expected numbers are computed here from the emulators' own generated rows, not from the
pullers, so a puller that drops, doubles or mislabels a row fails these tests.

The accounts:

* Meta act_1000: audiences A and C (by id) and B (by name); syncd manages A and B. The
  emulator's ad sets: "Retargeting - Cart" (LINK_CLICKS) targets A; "Retargeting - Lookalike
  mix" (IMPRESSIONS) targets A and B; "Remarketing - Buyers" targets C; "Prospecting - Broad"
  targets C and excludes A.
* Meta act_2000: the same ad sets over D, E and F; syncd manages only D, so the lookalike
  mix splits between D (stored) and E (not stored).
* Google Ads customer CID: lists "buyers" (by id) and "carts" (by name) managed, "other" not.
* Google Ads customer DM_CID: one list, managed through a Data Manager destination with a
  `reporting` connection; a second Data Manager destination has none and is skipped.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from syncd.cli import main
from syncd.config import ConfigError, SyncdConfig, load_config
from syncd.config.models import (
    GoogleAdsConnection,
    GoogleAdsDestination,
    GoogleDataManagerDestination,
)
from syncd.destinations.base import MATCHED
from syncd.destinations.google.sandbox.ads import CPM_BIDDING, GoogleAdsEmulator
from syncd.destinations.meta.sandbox import MetaGraphEmulator
from syncd.destinations.retry import RetryPolicy
from syncd.spend import open_spend_store
from syncd.spend.pull import pull_spend
from syncd.spend.report import build_report
from syncd.state import open_state
from syncd.targets import audience_ref

TOKEN = "spend-token-6e2a"
DEV_TOKEN = "spend-dev-token-91c0"
CID, DM_CID, BARE_CID = "1234567890", "2223334445", "3334445556"
A, B, C = "23850000000000001", "23850000000000002", "23850000000000003"
D, E, F = "23850000000000011", "23850000000000012", "23850000000000013"
META_MANAGED = {"act_1000": {A: "carts", B: "wishlist"}, "act_2000": {D: "buyers"}}
FIRST, LAST = dt.date(2026, 3, 1), dt.date(2026, 3, 10)
FAST = RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0)
PULLED_AT = "pulled_at"


@dataclass
class Networks:
    ads: GoogleAdsEmulator
    meta: MetaGraphEmulator
    buyers: int
    carts: int
    other: int
    dm_list: int


@pytest.fixture
def networks() -> Iterator[Networks]:
    with (
        GoogleAdsEmulator(customers=[CID, DM_CID], access_token=TOKEN) as ads,
        MetaGraphEmulator([A, C], TOKEN) as meta,
    ):
        meta.add_audience(B, name="Wishlist users")
        for audience_id in (D, E, F):
            meta.add_audience(audience_id, ad_account_id="act_2000")
        buyers, carts = ads.add_user_list("buyers"), ads.add_user_list("carts")
        other = ads.add_user_list("other")
        dm_list = ads.add_user_list("dm wishlist", customer_id=DM_CID)
        ads.generate_spend(FIRST, LAST, user_list_ids=[buyers, carts, other], seed=3)
        ads.generate_spend(FIRST, LAST, customer_id=DM_CID, user_list_ids=[dm_list], seed=4)
        meta.generate_spend(FIRST, LAST, [A, B, C], seed=5)
        meta.generate_spend(FIRST, LAST, [D, E, F], seed=6, ad_account_id="act_2000")
        yield Networks(ads, meta, buyers, carts, other, dm_list)


def config_data(networks: Networks) -> dict:
    segment = {"sql": "select email from people", "identifiers": {"email": "email"}}
    ads_connection = {
        "developer_token": "${DEV_TOKEN}",
        "access_token": "${TEST_TOKEN}",
        "endpoint": networks.ads.endpoint,
    }
    return {
        "warehouse": {"kind": "duckdb", "path": "shop.duckdb"},
        "segments": {name: segment for name in ("carts", "wishlist", "buyers")},
        "destinations": {
            "meta": {
                "kind": "meta",
                "ad_account_id": "act_1000",
                "access_token": "${TEST_TOKEN}",
                "endpoint": networks.meta.base_url,
            },
            "meta2": {
                "kind": "meta",
                "ad_account_id": "act_2000",
                "access_token": "${TEST_TOKEN}",
                "endpoint": networks.meta.base_url,
            },
            "gads": {"kind": "google_ads", "customer_id": CID, **ads_connection},
            "dm": {
                "kind": "google_data_manager",
                "operating_account_id": DM_CID,
                "access_token": "${TEST_TOKEN}",
                "endpoint": "http://127.0.0.1:9",  # never called: uploads are not pulled
                "reporting": ads_connection,
            },
            "dm_bare": {
                "kind": "google_data_manager",
                "operating_account_id": BARE_CID,
                "access_token": "${TEST_TOKEN}",
                "endpoint": "http://127.0.0.1:9",
            },
        },
        "audiences": [
            {"segment": "carts", "destination": "meta", "audience_id": A},
            {"segment": "wishlist", "destination": "meta", "audience_name": "Wishlist users"},
            {"segment": "buyers", "destination": "meta2", "audience_id": D},
            {"segment": "buyers", "destination": "gads", "audience_id": str(networks.buyers)},
            {"segment": "carts", "destination": "gads", "audience_name": "carts"},
            {"segment": "wishlist", "destination": "gads", "audience_name": "not made yet"},
            {"segment": "wishlist", "destination": "dm", "audience_id": str(networks.dm_list)},
            {"segment": "buyers", "destination": "dm_bare", "audience_id": "9000009"},
        ],
        "state": {"path": "state.duckdb"},
    }


ENV = {"TEST_TOKEN": TOKEN, "DEV_TOKEN": DEV_TOKEN}


@pytest.fixture
def config_path(tmp_path: Path, networks: Networks) -> Path:
    path = tmp_path / "syncd.yaml"
    path.write_text(yaml.safe_dump(config_data(networks), sort_keys=False))
    return path


@pytest.fixture
def config(config_path: Path) -> SyncdConfig:
    return load_config(config_path, environ=ENV)


def pull(config: SyncdConfig, today: dt.date = LAST) -> dict:
    summary = pull_spend(config, today=today, retry_policy=FAST)
    return {p.destination: p for p in summary.pulls}


def stored(config: SyncdConfig) -> list[dict]:
    with open_spend_store(config) as store:
        return store.rows(FIRST - dt.timedelta(days=60), LAST).to_pylist()


# -- what the emulators say, computed independently ------------------------------------------


def expected_google(networks: Networks) -> dict[tuple, dict]:
    """(date, account, ad group or "" for a campaign-level list, list) -> the numbers Google
    holds, for the managed lists."""
    segments = {networks.buyers: "buyers", networks.carts: "carts"}
    expected = {}
    for customer, managed in ((CID, segments), (DM_CID, {networks.dm_list: "wishlist"})):
        for row in networks.ads.spend(customer_id=customer):
            if row.user_list_id in managed:
                at_campaign = row.ad_group_id is None
                ad_group = "" if at_campaign else str(row.ad_group_id)
                expected[(row.date, customer, ad_group, str(row.user_list_id))] = {
                    "segment": managed[row.user_list_id],
                    "allocation": "campaign_criterion" if at_campaign else "criterion",
                    "campaign_id": str(row.campaign_id),
                    "impressions": row.impressions,
                    "clicks": row.clicks,
                    "cost": row.cost_micros / 1_000_000,
                    "billing_model": "CPM" if row.bidding_strategy_type in CPM_BIDDING else "CPC",
                }
    return expected


def even_parts(total: int, ids: list[str]) -> dict[str, int]:
    """The documented rule for whole numbers: as even as possible, the remainder one each to
    the lowest ids."""
    quotient, remainder = divmod(total, len(ids))
    ordered = sorted(ids, key=int)
    return {i: quotient + (1 if n < remainder else 0) for n, i in enumerate(ordered)}


def expected_meta(networks: Networks) -> dict[tuple, dict]:
    """(account, date, ad set, audience) -> a managed audience's share of each ad set's day:
    1/n of the spend, n counting every targeted audience, managed or not."""
    expected = {}
    for account, managed in META_MANAGED.items():
        for row in networks.meta.insights(account):
            targeted = [audience_id for audience_id, _ in row.ad_set.custom_audiences]
            impressions = even_parts(row.impressions, targeted)
            clicks = even_parts(row.clicks, targeted)
            for audience_id in targeted:
                if audience_id in managed:
                    expected[(account, row.day, row.ad_set.id, audience_id)] = {
                        "segment": managed[audience_id],
                        "cost": row.spend_cents / 100 / len(targeted),
                        "share": 1 / len(targeted),
                        "impressions": impressions[audience_id],
                        "clicks": clicks[audience_id],
                        "billing_model": {"IMPRESSIONS": "CPM", "LINK_CLICKS": "CPC"}[
                            row.ad_set.billing_event
                        ],
                    }
    return expected


def by_key(rows: list[dict]) -> tuple[dict[tuple, dict], dict[tuple, dict]]:
    google = {
        (r["date"], r["account_id"], r["ad_set_id"], r["audience_id"]): r
        for r in rows
        if r["network"] == "google"
    }
    meta = {
        (r["account_id"], r["date"], r["ad_set_id"], r["audience_id"]): r
        for r in rows
        if r["network"] == "meta"
    }
    assert len(google) + len(meta) == len(rows)  # no key twice
    return google, meta


# -- tests -----------------------------------------------------------------------------------


def test_the_spend_table_holds_exactly_what_the_networks_report(
    networks: Networks, config: SyncdConfig
) -> None:
    pulls = pull(config)

    assert {name: p.status for name, p in pulls.items()} == {
        "meta": "ok",
        "meta2": "ok",
        "gads": "ok",
        "dm": "ok",
        "dm_bare": "skipped",
    }
    assert "no `reporting` block" in pulls["dm_bare"].notes[0]
    assert any("'not made yet'" in note for note in pulls["gads"].notes)
    assert pulls["meta"].since == LAST - dt.timedelta(days=30)  # a first pull
    google, meta = by_key(stored(config))

    want_google = expected_google(networks)
    assert google.keys() == want_google.keys()
    for key, want in want_google.items():
        got = google[key]
        assert got["segment"] == want["segment"] and got["campaign_id"] == want["campaign_id"]
        assert (got["impressions"], got["clicks"]) == (want["impressions"], want["clicks"])
        assert got["cost"] == pytest.approx(want["cost"], abs=1e-9)
        assert got["billing_model"] == want["billing_model"], key
        assert (got["share"], got["currency"]) == (1.0, "USD")
        assert got["allocation"] == want["allocation"]
    # Lists targeted at campaign level (campaign_audience_view) are there, and at ad group level.
    assert {want["allocation"] for want in want_google.values()} == {
        "criterion",
        "campaign_criterion",
    }

    want_meta = expected_meta(networks)
    assert meta.keys() == want_meta.keys()
    for key, want in want_meta.items():
        got = meta[key]
        assert got["segment"] == want["segment"] and got["billing_model"] == want["billing_model"]
        assert (got["impressions"], got["clicks"]) == (want["impressions"], want["clicks"])
        assert got["cost"] == pytest.approx(want["cost"], abs=1e-9)
        assert got["share"] == pytest.approx(want["share"])
        assert got["allocation"] == "even_split"


def test_an_ad_set_targeting_two_audiences_gives_each_half(
    networks: Networks, config: SyncdConfig
) -> None:
    pull(config)
    _, meta = by_key(stored(config))
    mix = next(a for a in networks.meta.ad_sets() if a.name == "Retargeting - Lookalike mix")
    assert {i for i, _ in mix.custom_audiences} == {A, B}

    for row in (r for r in networks.meta.insights() if r.ad_set.id == mix.id):
        halves = [meta[("act_1000", row.day, mix.id, audience)] for audience in (A, B)]
        assert [h["cost"] for h in halves] == [pytest.approx(row.spend_cents / 200)] * 2
        assert [h["share"] for h in halves] == [0.5, 0.5]
        assert sum(h["impressions"] for h in halves) == row.impressions
        assert sum(h["clicks"] for h in halves) == row.clicks
        assert max(h["clicks"] for h in halves) - min(h["clicks"] for h in halves) <= 1
        # CPC and CPM stay the ad set's own, not ratios of the rounded halves.
        if row.clicks:
            assert halves[0]["cpc"] == pytest.approx(row.spend_cents / 100 / row.clicks)
        assert halves[1]["cpm"] == pytest.approx(row.spend_cents / 100 / row.impressions * 1000)

    # On act_2000 the same ad set targets D (managed) and E (not): D still gets half, as the
    # split counts every targeted audience, and E's half is not stored.
    other = next(a for a in networks.meta.ad_sets("act_2000") if a.id == mix.id)
    assert {i for i, _ in other.custom_audiences} == {D, E}
    rows = [r for r in networks.meta.insights("act_2000") if r.ad_set.id == mix.id]
    assert rows
    for row in rows:
        half = meta[("act_2000", row.day, mix.id, D)]
        assert (half["cost"], half["share"]) == (pytest.approx(row.spend_cents / 200), 0.5)
        assert ("act_2000", row.day, mix.id, E) not in meta


def test_audiences_syncd_does_not_manage_and_excluded_audiences_carry_nothing(
    networks: Networks, config: SyncdConfig
) -> None:
    pull(config)
    rows = stored(config)

    assert {r["audience_id"] for r in rows} == {
        A,
        B,
        D,
        str(networks.buyers),
        str(networks.carts),
        str(networks.dm_list),
    }
    assert not {C, E, F} & {r["audience_id"] for r in rows}
    assert str(networks.other) not in {r["audience_id"] for r in rows}
    assert any(row.user_list_id == networks.other for row in networks.ads.spend(CID))
    prospecting = next(a for a in networks.meta.ad_sets() if a.name == "Prospecting - Broad")
    assert A in {i for i, _ in prospecting.excluded_custom_audiences}
    assert not [r for r in rows if r["ad_set_id"] == prospecting.id]  # C's alone, A excluded
    remarketing = next(a for a in networks.meta.ad_sets() if a.name == "Remarketing - Buyers")
    assert not [r for r in rows if r["ad_set_id"] == remarketing.id]


def test_cpc_and_cpm_labels_follow_bidding_and_billing_event(
    networks: Networks, config: SyncdConfig
) -> None:
    pull(config)
    rows = stored(config)

    google = {(r["campaign_name"], r["billing_model"]) for r in rows if r["network"] == "google"}
    assert google == {
        ("Retargeting - Display", "CPC"),  # TARGET_CPA
        ("Remarketing - Search", "CPC"),  # MANUAL_CPC
        ("Reach - YouTube", "CPM"),  # TARGET_CPM
        ("Awareness - Display", "CPM"),  # MANUAL_CPM
        ("Loyalty - Display", "CPC"),  # MAXIMIZE_CONVERSIONS, a list at campaign level
    }
    meta = {(r["ad_set_name"], r["billing_model"]) for r in rows if r["network"] == "meta"}
    assert meta == {("Retargeting - Cart", "CPC"), ("Retargeting - Lookalike mix", "CPM")}


def test_pulling_twice_changes_nothing(networks: Networks, config: SyncdConfig) -> None:
    pull(config)
    first = stored(config)
    again = pull(config)
    second = stored(config)

    assert again["meta"].since == LAST - dt.timedelta(days=3)  # the lookback, not 30 days
    assert again["gads"].rows > 0

    def strip(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in row.items() if k != PULLED_AT} for row in rows]

    assert strip(second) == strip(first)


def test_a_restated_day_is_applied_on_the_next_pull_within_the_lookback(
    networks: Networks, config: SyncdConfig
) -> None:
    pull(config)
    before_google, before_meta = expected_google(networks), expected_meta(networks)
    recent, old = LAST - dt.timedelta(days=1), FIRST + dt.timedelta(days=1)
    for day in (recent, old):
        assert networks.ads.restate(day, user_list_id=networks.buyers, cost_micros=1_230_000)
        assert networks.meta.restate(day, factor=0.5) == 4

    pull(config)
    google, meta = by_key(stored(config))
    want_google, want_meta = expected_google(networks), expected_meta(networks)
    buyers = str(networks.buyers)
    restated = [k for k in google if k[0] == recent and k[3] == buyers]
    assert restated and all(google[k]["cost"] == pytest.approx(1.23) for k in restated)
    for key, want in want_meta.items():
        if key[1] == recent:
            assert meta[key]["cost"] == pytest.approx(want["cost"])
            assert meta[key]["impressions"] == want["impressions"]
    # A day before the lookback is not read again: it keeps what was pulled first.
    stale = [k for k in google if k[0] == old and k[3] == buyers]
    assert stale and all(want_google[k]["cost"] == pytest.approx(1.23) for k in stale)
    assert all(google[k]["cost"] == pytest.approx(before_google[k]["cost"]) for k in stale)
    old_meta = [k for k in meta if k[1] == old]
    assert old_meta
    assert all(meta[k]["cost"] == pytest.approx(before_meta[k]["cost"]) for k in old_meta)

    # Asked for explicitly, the old day is read again too.
    pull_spend(config, since=FIRST, until=LAST, retry_policy=FAST)
    google, _ = by_key(stored(config))
    assert all(google[k]["cost"] == pytest.approx(1.23) for k in stale)


def test_a_failing_destination_does_not_stop_the_others(
    networks: Networks, config: SyncdConfig
) -> None:
    networks.meta.expire_token()
    pulls = pull(config)

    assert pulls["meta"].status == "failed" and "token" in (pulls["meta"].error or "").lower()
    assert pulls["gads"].status == "ok" and pulls["gads"].rows > 0
    assert {r["network"] for r in stored(config)} == {"google"}


def test_report_totals_per_segment_equal_the_networks_numbers(
    networks: Networks, config: SyncdConfig
) -> None:
    pull(config)
    with open_state(config.state) as state:  # the latest run summaries hold matched counts
        for name, summary in (
            ("buyers->gads", {MATCHED: 62, "match_rate_percentage": 55}),
            ("wishlist->meta", {MATCHED: 50, "approximate_count_lower_bound": 40}),
        ):
            audience = next(a for a in config.audiences if a.name == name)
            ref = audience_ref(config, audience)
            run = state.start_run(name, ref, "test")
            state.finish_run(run, "ok", {"members": 100, "audience_info": {"stale": 1}})
            run = state.start_run(name, ref, "test")
            state.finish_run(run, "ok", {"members": 100, "audience_info": summary})
            state.finish_run(state.start_run(name, ref, "test"), "ok", {"audience_info": {}})

    report = build_report(config, FIRST, LAST)

    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0, 0])
    for want in expected_google(networks).values():
        entry = totals[(want["segment"], "google")]
        entry[0] += want["cost"]
        entry[1] += want["impressions"]
        entry[2] += want["clicks"]
    for want in expected_meta(networks).values():
        entry = totals[(want["segment"], "meta")]
        entry[0] += want["cost"]
        entry[1] += want["impressions"]
        entry[2] += want["clicks"]
    got = {(s.segment, s.network): s for s in report.segments}
    assert got.keys() == totals.keys()
    for key, (cost, impressions, clicks) in totals.items():
        assert got[key].cost == pytest.approx(cost, abs=0.005), key
        assert (got[key].impressions, got[key].clicks) == (impressions, clicks), key
        assert got[key].cpc == pytest.approx(got[key].cost / clicks)
    assert got[("buyers", "google")].match_rate == pytest.approx(0.62)
    assert got[("wishlist", "meta")].match_rate == pytest.approx(0.5)
    assert got[("carts", "meta")].match_rate is None
    assert "62%" in report.text() and "50%" in report.text()


def test_cli_spend_then_report_html_writes_a_self_contained_page(
    networks: Networks, config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    window = ["--since", str(FIRST), "--until", str(LAST)]

    spent = runner.invoke(main, ["spend", str(config_path), *window])
    assert spent.exit_code == 0, spent.output
    assert re.search(r"^meta \(meta act_1000\): 2026-03-01 to 2026-03-10, \d+ rows, ok$",
                     spent.output, re.MULTILINE)  # fmt: skip
    assert "dm_bare: no `reporting` block" in spent.output

    page = tmp_path / "report.html"
    reported = runner.invoke(main, ["report", str(config_path), *window, "--html", str(page)])
    assert reported.exit_code == 0, reported.output
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and html.count("<svg") == 3
    assert not re.search(r"""\b(src|href)\s*=|url\(|@import|<link|<script|<img|<iframe""", html)
    assert not re.search(r"https?://", html)
    for segment in ("carts", "wishlist", "buyers"):
        assert f"{segment} · google" in html
    carts_meta = sum(w["cost"] for w in expected_meta(networks).values() if w["segment"] == "carts")
    assert f"{carts_meta:,.2f} USD" in html
    assert "split evenly" in html

    networks.meta.expire_token()
    failed = runner.invoke(main, ["spend", str(config_path)])
    assert failed.exit_code == 1 and "error: meta:" in failed.output


# -- config ----------------------------------------------------------------------------------


def test_spend_settings_and_reporting_connections_in_the_config(
    config: SyncdConfig, config_path: Path, networks: Networks
) -> None:
    assert (config.spend.lookback_days, config.spend.every, config.spend.first_pull_days) == (
        3,
        "6h",
        30,
    )
    assert config.spend.interval_seconds == 6 * 3600
    # The google_ads destination keeps its YAML shape; its connection part is shared.
    assert set(GoogleAdsDestination.model_fields) == {
        "kind", "customer_id", "login_customer_id", "developer_token", "access_token",
        "client_id", "client_secret", "refresh_token", "credentials_file", "endpoint",
        "consent", "job_timeout_seconds", "membership_life_span", "batch_size",
        "timeout_seconds", "max_in_flight",
    }  # fmt: skip
    assert set(GoogleAdsConnection.model_fields) < set(GoogleAdsDestination.model_fields)
    dm = config.destinations["dm"]
    assert isinstance(dm, GoogleDataManagerDestination) and dm.reporting is not None
    assert dm.reporting.endpoint == networks.ads.endpoint

    data = config_data(networks)
    data["spend"] = {"every": "1d", "lookback_days": 7}
    data["destinations"]["dm"]["reporting"] = {  # no developer_token: sunset, optional
        "credentials_file": "secrets/ads.json",
        "login_customer_id": "111-222-3333",
    }
    config_path.write_text(yaml.safe_dump(data))
    loaded = load_config(config_path, environ=ENV)
    reporting = loaded.destinations["dm"].reporting  # type: ignore[union-attr]
    assert reporting.credentials_file == config_path.parent / "secrets" / "ads.json"
    assert reporting.login_customer_id == "1112223333"
    assert loaded.spend.interval_seconds == 86400 and loaded.spend.lookback_days == 7

    data["spend"] = {"every": "daily"}
    data["destinations"]["dm"]["reporting"] = {
        "developer_token": "${DEV_TOKEN}",
        "access_token": "ya29.written-in-the-file",
        "refresh_token": "${DEV_TOKEN}",
        "endpoint": "https://x",
    }
    config_path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as refused:
        load_config(config_path, environ=ENV)
    problems = {problem.path: problem for problem in refused.value.problems}
    assert "spend.every" in problems
    assert "host:port" in problems["destinations.dm.reporting.endpoint"].message
    assert "gRPC" in problems["destinations.dm.reporting.endpoint"].hint
    assert "written in the file" in problems["destinations.dm.reporting.access_token"].message

    data["destinations"]["dm"]["reporting"].update(access_token="${DEV_TOKEN}", endpoint="h:1")
    config_path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as refused:
        load_config(config_path, environ=ENV)
    problems = {problem.path: problem for problem in refused.value.problems}
    assert "give exactly one of access_token" in problems["destinations.dm.reporting"].message
