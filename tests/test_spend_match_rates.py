"""The spend report's match rate and its page, for every registered network alike.

Each network's `describe` fills one network-neutral field (`MATCHED`), which is all the
report reads: a network whose own figure has another name (TikTok's `cover_num`) still has
a match rate. The HTML page names the networks its rows hold, as the registry names them.
"""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa
import pyarrow.compute as pc
from conftest import Workspace
from support.conformance import emails, network_fixture, sync
from support.networks import Network

from syncd.destinations.base import MATCHED
from syncd.destinations.registry import NETWORKS
from syncd.spend.report import SpendReport, by_segment, matched_members
from syncd.spend.table import SPEND_SCHEMA

network = network_fixture()
PEOPLE = [f"buyer{i}" for i in range(20)]
DAY = dt.date(2026, 11, 20)


def test_every_networks_audience_info_carries_the_matched_count_the_report_reads(
    workspace: Workspace, network: Network
) -> None:
    result = sync(workspace, network, emails(*PEOPLE))

    assert result.status == "ok", result.error
    matched = result.audience_info[MATCHED]
    assert isinstance(matched, int) and 0 < matched <= len(PEOPLE), result.audience_info
    estimate = matched_members((result.audience_info, result.members))
    assert estimate == (matched, len(PEOPLE))


def test_a_network_that_does_not_say_yet_has_no_match_rate() -> None:
    assert matched_members(({MATCHED: None, "cover_num": 7}, 10)) is None
    assert matched_members(({"cover_num": 7}, 10)) is None  # a record of another version
    assert matched_members(({MATCHED: 7}, None)) is None  # members sent unknown


def spend_row(segment: str, network: str, cost: float) -> dict[str, object]:
    return {
        "date": DAY,
        "network": network,
        "account_id": "1",
        "campaign_id": "c1",
        "campaign_name": "remarketing",
        "ad_set_id": "g1",
        "ad_set_name": "group",
        "audience_id": "a1",
        "segment": segment,
        "impressions": 1_000,
        "clicks": 10,
        "cost": cost,
        "currency": "USD",
        "cpc": cost / 10,
        "cpm": cost,
        "billing_model": "CPC",
        "share": 1.0,
        "allocation": "criterion",
        "pulled_at": dt.datetime(2026, 11, 21, tzinfo=dt.UTC),
    }


def test_the_page_names_the_networks_its_rows_hold() -> None:
    names = sorted({record.name for record in NETWORKS})
    assert names == ["google", "meta", "tiktok"]  # this test's three: the registry's names
    rows = pa.Table.from_pylist(
        [spend_row("carts", name, 10.0 * (index + 1)) for index, name in enumerate(names)],
        schema=SPEND_SCHEMA,
    )
    rates = {("carts", "tiktok"): 0.5}
    page = SpendReport(DAY, DAY, rows, by_segment(rows, match_rates=rates)).html()

    assert "on google, meta and tiktok" in page
    assert "Daily spend of each segment, google, meta and tiktok together." in page
    for name in names:
        assert f"carts · {name}" in page and f"<td>{name}</td>" in page
    assert "<td>50%</td>" in page  # TikTok's match rate, in the table
    assert not re.search(r"Google and Meta|Meta's|Google's", page)

    one = rows.filter(pc.equal(rows["network"], "tiktok"))
    alone = SpendReport(DAY, DAY, one, by_segment(one))
    assert "Daily spend of each segment on tiktok." in alone.html()
