"""The audience P&L (issue 24): segments with a holdout are synced to the emulators, an
`orders` table with a known true lift is written in the DuckDB warehouse, and `syncd
report` must recover it: the 95% interval holds the true incremental conversions, a segment
with no lift is not called significant, the attribution window and the people outside the
experiment are respected, and no raw email from the orders reaches anything syncd writes.

Who is treated comes from the state's group history (person keys written out by hand here:
`email:` + the SHA-256 of the address), so the outcomes are drawn for the groups syncd
really formed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import random
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from click.testing import CliRunner
from conftest import GOOGLE_LIST, META_AUDIENCE, TOKEN, Workspace, sha
from postgres_server import PostgresServer
from pydantic import TypeAdapter
from support.targets import META_SETTINGS

from syncd.cli import main
from syncd.config import ConfigError, SyncdConfig, load_config
from syncd.config.experiments import DefaultOutcomes, Outcomes
from syncd.config.models import Audience, Destination, DuckDBWarehouse, Segment
from syncd.identity import IdentifierKind
from syncd.lift import pnl as pnl_module
from syncd.lift.pnl import build_pnl
from syncd.lift.pnl_format import HINT, pnl_rows, pnl_text
from syncd.lift.pnl_table import write_pnl_table
from syncd.members import SegmentShape
from syncd.pipeline import sync_all
from syncd.spend import open_spend_store
from syncd.spend.table import SPEND_SCHEMA
from syncd.state import open_state
from syncd.targets import resolve

PEOPLE = 5000  # per segment
LIFTED = [f"lifted{i}@example.com" for i in range(PEOPLE)]
FLAT = [f"flat{i}@example.com" for i in range(PEOPLE)]
BASE, LIFT = 0.10, 0.03  # held-out conversion rate; what the audience adds to it
SPEND = 40.0  # per day, for the lifted audience on Meta, over 3 days
ORDER_VALUE = 50.0
TODAY = dt.datetime.now(dt.UTC).date()
WINDOW = ["--since", str(TODAY - dt.timedelta(days=1)), "--until", str(TODAY + dt.timedelta(30))]
OUTCOMES = {
    "sql": "select * from orders",
    "identifiers": {"email": "email"},
    "occurred_at": "ordered_at",
    "value": "amount",
}


def two_segments(workspace: Workspace) -> dict:
    """`lifted` to Meta and `flat` to Google, each holding half its people out."""
    data = workspace.config_data()
    data["segments"] = {
        name: {
            "sql": f"select * from people where email like '{name}%'",
            "identifiers": {"email": "email"},
            "holdout": {"fraction": 0.5},
        }
        for name in ("lifted", "flat")
    }
    data["audiences"] = [
        {"segment": "lifted", "destination": "meta", "audience_id": META_AUDIENCE},
        {"segment": "flat", "destination": "google", "audience_id": GOOGLE_LIST},
    ]
    data["outcomes"] = OUTCOMES
    return data


def groups(config: SyncdConfig, index: int) -> dict[str, tuple[bool, dt.datetime]]:
    """Each email of audience `index`'s experiment: (held out, entered at), from the state."""
    target = resolve(config, config.audiences[index], dt.datetime.now(dt.UTC))
    with open_state(config.state) as state:
        history = state.group_history(target.ref).to_pylist()
    emails = {f"email:{sha(email)}": email for email in LIFTED + FLAT}
    return {emails[r["person_key"]]: (r["held_out"], r["entered_at"]) for r in history}


def write_orders(workspace: Workspace, rows: list[tuple[str | None, object, object]]) -> None:
    """The warehouse's `orders` table: (email, ordered_at, amount)."""
    table = pa.table(
        {
            "email": pa.array([r[0] for r in rows], pa.string()),
            "ordered_at": pa.array([r[1] for r in rows]),
            "amount": pa.array([r[2] for r in rows]),
        }
    )
    with duckdb.connect(str(workspace.warehouse)) as db:
        db.register("incoming", table)
        db.execute("CREATE OR REPLACE TABLE orders AS SELECT * FROM incoming")


def draw_orders(
    people: dict[str, tuple[bool, dt.datetime]], treated_rate: float, rng: random.Random
) -> list[tuple[str | None, object, object]]:
    """An order within 6 days of entry for each person who converts: with BASE held out,
    `treated_rate` treated."""
    orders: list[tuple[str | None, object, object]] = []
    for email, (held_out, entered) in sorted(people.items()):
        if rng.random() < (BASE if held_out else treated_rate):
            at = entered + dt.timedelta(hours=rng.uniform(1, 6 * 24))
            orders.append((email, at, ORDER_VALUE))
    return orders


@dataclass(frozen=True)
class Synced:
    config: SyncdConfig
    path: Path
    lifted: dict[str, tuple[bool, dt.datetime]]
    flat: dict[str, tuple[bool, dt.datetime]]


@pytest.fixture
def synced(workspace: Workspace) -> Synced:
    """Both segments synced once, their orders drawn with the known lift (seed 24), and
    three days of Meta spend for the lifted audience."""
    workspace.write_people([(email, None, "US", None, None, None) for email in LIFTED + FLAT])
    data = two_segments(workspace)
    config = workspace.config(data)
    assert [r.status for r in sync_all(config)] == ["ok", "ok"]
    lifted, flat = groups(config, 0), groups(config, 1)
    rng = random.Random(24)
    write_orders(workspace, draw_orders(lifted, BASE + LIFT, rng) + draw_orders(flat, BASE, rng))
    spend = [
        {
            "date": TODAY + dt.timedelta(days=day),
            "network": "meta",
            "account_id": config.destinations["meta"].account,
            "campaign_id": "c1",
            "ad_set_id": "s1",
            "audience_id": META_AUDIENCE,
            "segment": "lifted",
            "impressions": 1000,
            "clicks": 10,
            "cost": SPEND,
            "currency": "USD",
            "billing_model": "CPM",
            "share": 1.0,
            "allocation": "criterion",
            "pulled_at": dt.datetime.now(dt.UTC),
        }
        for day in range(3)
    ]
    with open_spend_store(config) as store:
        store.upsert(pa.Table.from_pylist(spend, SPEND_SCHEMA))
    return Synced(config, workspace.write_config(data), lifted, flat)


def report(synced: Synced, *options: str) -> str:
    result = CliRunner().invoke(
        main, ["report", str(synced.path), *WINDOW, *options], env={"TEST_TOKEN": TOKEN}
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_interval_holds_the_true_lift_and_no_lift_is_not_significant(synced: Synced) -> None:
    rows = {row["segment"]: row for row in json.loads(report(synced, "--format", "json"))}
    lifted, flat = rows["lifted"], rows["flat"]

    treated = sum(not held for held, _ in synced.lifted.values())
    assert lifted["treated_people"] == treated
    assert lifted["held_out_people"] == PEOPLE - treated
    with duckdb.connect(str(synced.path.parent / "shop.duckdb"), read_only=True) as db:
        buyers = {email for (email,) in db.sql("select distinct email from orders").fetchall()}
    for segment, people in (("lifted", synced.lifted), ("flat", synced.flat)):
        converted = [held for email, (held, _) in people.items() if email in buyers]
        assert rows[segment]["treated_converters"] == converted.count(False)
        assert rows[segment]["held_out_converters"] == converted.count(True)
    true_conversions = LIFT * treated
    low, high = lifted["incremental_conversions_low"], lifted["incremental_conversions_high"]
    print(f"lifted: true {true_conversions:.1f}, estimate {lifted['incremental_conversions']:.1f} "
          f"[{low:.1f}, {high:.1f}]; flat: true 0, estimate "
          f"{flat['incremental_conversions']:.1f} [{flat['incremental_conversions_low']:.1f}, "
          f"{flat['incremental_conversions_high']:.1f}]")  # fmt: skip
    assert low < true_conversions < high
    assert lifted["incremental_conversions_significant"] is True
    true_revenue = true_conversions * ORDER_VALUE
    assert lifted["incremental_revenue_low"] < true_revenue < lifted["incremental_revenue_high"]
    assert lifted["spend"] == 3 * SPEND and lifted["spend_reported"] is True
    assert lifted["incremental_roas"] == pytest.approx(lifted["incremental_revenue"] / (3 * SPEND))
    assert lifted["verdict"] == "pays for itself"  # ~75 orders of 50 for 120 of spend

    assert flat["incremental_conversions_significant"] is False
    assert flat["incremental_conversions_low"] < 0 < flat["incremental_conversions_high"]
    assert flat["spend"] == 0 and flat["spend_reported"] is False
    assert flat["incremental_roas"] is None
    assert flat["verdict"].startswith("no detectable lift")


def test_json_csv_and_text_carry_the_same_numbers(synced: Synced) -> None:
    from_json = json.loads(report(synced, "--format", "json"))
    from_csv = list(csv.DictReader(io.StringIO(report(synced, "--format", "csv"))))
    assert len(from_json) == len(from_csv) == 2
    for as_json, as_csv in zip(from_json, from_csv, strict=True):
        assert list(as_json) == list(as_csv)
        for key, value in as_json.items():
            if value is None:
                assert as_csv[key] == ""
            elif isinstance(value, bool | str):
                assert as_csv[key] == str(value)
            else:
                assert float(as_csv[key]) == pytest.approx(value, rel=1e-12)

    text = report(synced)
    assert text.index("Spend from") < text.index("Audience P&L")
    lines = {
        line.split()[0]: line for line in text.splitlines() if line.startswith(("lifted", "flat"))
    }
    for row in from_json:
        line = lines[row["segment"]]
        conversions = row["incremental_conversions"]
        low, high = row["incremental_conversions_low"], row["incremental_conversions_high"]
        assert f"{conversions:,.1f} [{low:,.1f}, {high:,.1f}]" in line
        assert f"{row['treated_people']:,}" in line and f"{row['held_out_people']:,}" in line
        assert f"{row['conversion_rate_treated'] * 100:.2f}%" in line
        assert row["verdict"] in line
    assert "spend 0 (none): no spend in the spend table for flat->google" in text


def test_pnl_table_writes_the_rows_beside_the_state(synced: Synced) -> None:
    expected = json.loads(report(synced, "--format", "json"))
    report(synced, "--format", "json", "--pnl-table", "audience_pnl")
    report(synced, "--format", "json", "--pnl-table", "audience_pnl")  # replaced, not added
    state_path = synced.path.parent / "state.duckdb"
    with duckdb.connect(str(state_path), read_only=True) as db:
        written = db.sql("SELECT * FROM audience_pnl ORDER BY segment DESC").fetchall()
        names = [column[0] for column in db.sql("SELECT * FROM audience_pnl").description]
    assert names == list(expected[0])
    got = [dict(zip(names, row, strict=True)) for row in written]
    assert [row["segment"] for row in got] == [row["segment"] for row in expected]
    for row, want in zip(got, expected, strict=True):
        assert row["treated_people"] == want["treated_people"]
        assert row["incremental_conversions"] == pytest.approx(want["incremental_conversions"])
        assert row["incremental_roas"] == (
            None if want["incremental_roas"] is None else pytest.approx(want["incremental_roas"])
        )
        assert (
            row["incremental_conversions_significant"]
            is want["incremental_conversions_significant"]
        )
        assert row["verdict"] == want["verdict"]

    refused = CliRunner().invoke(
        main, ["report", str(synced.path), "--pnl-table", "x; drop table members"],
        env={"TEST_TOKEN": TOKEN},
    )  # fmt: skip
    assert refused.exit_code == 2 and "--pnl-table" in refused.output


# -- which orders count ------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["duckdb", "postgres"])
def test_the_attribution_window_outsiders_and_bad_rows(
    workspace: Workspace, postgres: PostgresServer, state: str
) -> None:
    """Exact counts on a handful of people: an order past the attribution window counts only
    with a longer one, an order before entry never, someone outside the segment is ignored,
    and rows with no person, no time or a non-numeric value are counted and left out. The
    amounts are text, as a warehouse may hold them: each row is cast on its own."""
    emails = LIFTED[:40]
    workspace.write_people([(email, None, "US", None, None, None) for email in emails])
    data = two_segments(workspace)
    data["audiences"] = data["audiences"][:1]
    if state == "postgres":
        schema = f"pnl_{uuid.uuid4().hex[:8]}"
        data["state"] = {"kind": "postgres", "dsn": "${PG_DSN}", "schema": schema}
    environ = {"TEST_TOKEN": TOKEN, "PG_DSN": postgres.uri}
    config = load_config(workspace.write_config(data), environ=environ)
    sync_all(config)
    people = groups(config, 0)
    treated = sorted(e for e, (held, _) in people.items() if not held)
    held_out = sorted(e for e, (held, _) in people.items() if held)
    entered = people[treated[0]][1]
    day = dt.timedelta(days=1)
    write_orders(
        workspace,
        [
            (treated[0], entered + 2 * day, "30.0"),  # counts
            (treated[0], entered + 3 * day, "20.0"),  # the same person again: one converter
            (treated[1], entered + 8 * day, "99.0"),  # past 7 days, within 10
            (treated[2], entered - day, "500.0"),  # before they entered: never
            (held_out[0], entered + day, "10.0"),
            ("stranger@example.com", entered + day, "1000.0"),  # not in the segment
            (None, entered + day, "5.0"),  # nobody to match
            (held_out[1], None, "5.0"),  # no time
            (held_out[2], entered + day, "lots"),  # not a number
        ],
    )
    seven = build_pnl(config, TODAY - day, TODAY + 30 * day, attribution_days=7)
    (line,) = seven.audiences
    assert (line.treated.people, line.held_out.people) == (len(treated), len(held_out))
    assert (line.treated.converters, line.treated.revenue) == (1, 50.0)
    assert line.treated.revenue_squares == 50.0**2  # per person: 30 + 20, squared once
    assert (line.held_out.converters, line.held_out.revenue) == (1, 10.0)
    counts = seven.outcomes
    assert (counts.kept, counts.without_person, counts.bad) == (6, 1, 2)
    assert "left out 1 with no email, phone, external id or ad id, and 2" in pnl_text(seven)

    (ten,) = build_pnl(config, TODAY - day, TODAY + 30 * day, attribution_days=10).audiences
    assert (ten.treated.converters, ten.treated.revenue) == (2, 149.0)
    (cut,) = build_pnl(config, TODAY - day, (entered + 5 * day).date(), 10).audiences
    assert cut.treated.converters == 1  # the window's end cuts the attribution short

    write_pnl_table(config, "audience_pnl", pnl_rows(seven))  # into the state's database
    with open_state(config.state) as store:
        written = store.backend.execute(
            "SELECT treated_converters, incremental_revenue, spend_reported FROM audience_pnl"
        )
    assert written == [(1, pytest.approx(pnl_rows(seven)[0]["incremental_revenue"]), False)]


def test_a_person_moved_into_the_holdout_stays_where_they_started(workspace: Workspace) -> None:
    """Intent to treat: raising the fraction moves people into the holdout mid-window, and
    the P&L still counts them as treated, with their orders."""
    emails = LIFTED[:200]
    workspace.write_people([(email, None, "US", None, None, None) for email in emails])
    data = two_segments(workspace)
    data["audiences"] = data["audiences"][:1]
    data["segments"]["lifted"]["holdout"] = {"fraction": 0.1}
    sync_all(workspace.config(data))
    data["segments"]["lifted"]["holdout"] = {"fraction": 0.5}
    config = workspace.config(data)
    sync_all(config)
    target = resolve(config, config.audiences[0], dt.datetime.now(dt.UTC))
    with open_state(config.state) as state:
        stays = state.group_history(target.ref).to_pylist()
    started_held: dict[str, bool] = {}  # each person's group in their first stay
    held_now = set()
    for stay in sorted(stays, key=lambda stay: stay["entered_at"]):
        started_held.setdefault(stay["person_key"], stay["held_out"])
        if stay["held_out"] and stay["left_at"] is None:
            held_now.add(stay["person_key"])
    keys = {f"email:{sha(email)}": email for email in emails}
    moved = sorted(keys[key] for key in held_now if not started_held[key])
    assert moved  # 0.1 -> 0.5 moved people into the holdout
    first_held = sum(started_held.values())
    write_orders(workspace, [(email, dt.datetime.now(dt.UTC), 1.0) for email in moved])
    (line,) = build_pnl(config, TODAY, TODAY + dt.timedelta(days=8)).audiences
    assert line.held_out.people == first_held
    assert line.treated.people == len(emails) - first_held
    assert (line.treated.converters, line.held_out.converters) == (len(moved), 0)


# -- privacy -----------------------------------------------------------------------------------


def test_no_raw_email_from_the_outcomes_is_written_or_logged(
    synced: Synced, caplog: pytest.LogCaptureFixture
) -> None:
    with duckdb.connect(str(synced.path.parent / "shop.duckdb"), read_only=True) as db:
        emails = [email for (email,) in db.sql("select distinct email from orders").fetchall()]
    assert len(emails) > 500

    with caplog.at_level(logging.DEBUG):
        pnl = build_pnl(synced.config, TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(30))
        in_process = pnl_text(pnl)
        write_pnl_table(synced.config, "audience_pnl", pnl_rows(pnl))
    completed = subprocess.run(
        [sys.executable, "-m", "syncd", "--log-level", "debug", "report", str(synced.path),
         *WINDOW, "--pnl-table", "audience_pnl"],
        capture_output=True, text=True, env={"TEST_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
        timeout=120,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "Audience P&L" in completed.stdout and "wrote 2 P&L rows" in completed.stderr

    # The state and the spend table share the state's DuckDB file here: every byte of it
    # (and of anything else syncd left beside it), and every value of every table in it.
    written = b"".join(
        path.read_bytes()
        for path in synced.path.parent.rglob("*")
        if path.is_file() and not path.name.startswith(("shop.", "syncd.yaml"))
    )
    with duckdb.connect(str(synced.path.parent / "state.duckdb"), read_only=True) as state:
        tables = [name for (name,) in state.sql("SHOW TABLES").fetchall()]
        stored = "\n".join(
            str(value)
            for table in tables
            for row in state.sql(f"SELECT * FROM {table}").fetchall()
            for value in row
        )
    assert "audience_pnl" in tables and "group_history" in tables and "spend" in tables
    haystacks = {
        "files": written.decode("latin-1"),
        "state and spend tables": stored,
        "logs": caplog.text + completed.stderr,
        "report": in_process + completed.stdout,
    }
    # Every person's address is lifted<n>@ or flat<n>@: no trace of a local part may remain.
    raw = re.compile(r"(lifted|flat)\d+")
    for where, text in haystacks.items():
        assert raw.search(text) is None, f"raw emails in {where}"


# -- config and the empty case -------------------------------------------------------------------


def test_outcomes_config_errors_name_their_place(workspace: Workspace) -> None:
    data = workspace.config_data()
    data["outcomes"] = {**OUTCOMES, "revenue": "amount"}
    data["segments"]["people"]["outcomes"] = {"sql": "select 1", "occurred_at": 7}
    data["segments"]["people"]["outcomes"]["value"] = ["amount"]
    with pytest.raises(ConfigError) as refused:
        workspace.config(data)
    message = str(refused.value)
    assert "outcomes.revenue" in message
    assert "segments.people.outcomes.occurred_at" in message
    assert "segments.people.outcomes.value" in message

    data = workspace.config_data()
    data["outcomes"] = {"sql": "select 1", "occurred_at": "at"}  # no identifiers at the top
    data["segments"]["people"]["outcomes"] = {"sql": "select 1", "occurred_at": "at"}  # fine
    with pytest.raises(ConfigError) as refused:
        workspace.config(data)
    assert "outcomes.identifiers" in str(refused.value)
    assert "segments.people.outcomes" not in str(refused.value)

    data["outcomes"]["identifiers"] = {"zip": "zip"}
    with pytest.raises(ConfigError) as refused:
        workspace.config(data)
    assert "map at least one of email, phone, external_id, madid" in str(refused.value)


def test_a_segments_outcomes_default_to_its_own_identifiers(workspace: Workspace) -> None:
    data = workspace.config_data()
    data["segments"]["people"]["holdout"] = {"fraction": 0.5}
    data["segments"]["people"]["outcomes"] = {"sql": "select * from orders", "occurred_at": "at"}
    workspace.write_people([(email, None, "US", None, None, None) for email in LIFTED[:20]])
    with duckdb.connect(str(workspace.warehouse)) as db:
        db.execute("CREATE TABLE orders AS SELECT *, now() AS at FROM people LIMIT 3")
    config = workspace.config(data)
    sync_all(config)
    pnl = build_pnl(config, TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=1))
    # Meta and Google share the segment's holdout: one line, weighed against both's spend.
    assert [(line.network, line.destination) for line in pnl.audiences] == [
        ("meta, google", "meta, google")
    ]
    assert pnl.outcomes.kept == 3  # read by the segment's email, phone and country columns
    with duckdb.connect(str(workspace.warehouse)) as db:
        db.execute(
            "CREATE OR REPLACE TABLE orders AS SELECT email AS mail, now() AS at FROM people"
        )
    runner = CliRunner().invoke(main, ["report", str(workspace.write_config(data))],
                                env={"TEST_TOKEN": TOKEN})  # fmt: skip
    assert runner.exit_code == 1
    assert "the outcomes query has no column country, email, phone" in runner.output


def test_without_a_holdout_the_report_says_how_to_add_one(workspace: Workspace) -> None:
    workspace.write_people([(LIFTED[0], None, "US", None, None, None)])
    path = workspace.write_config()
    result = CliRunner().invoke(main, ["report", str(path)], env={"TEST_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    assert "No spend between" in result.output  # the spend report, as before
    assert HINT in result.output and "holdout: {fraction: 0.1}" in HINT
    as_json = CliRunner().invoke(main, ["report", str(path), "--format", "json"],
                                 env={"TEST_TOKEN": TOKEN})  # fmt: skip
    assert json.loads(as_json.stdout) == []


def test_report_html_draws_the_pnl_after_the_spend(synced: Synced, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    report(synced, "--html", str(page))
    html = page.read_text(encoding="utf-8")
    pnl = html.split("Audience P&amp;L", 1)[1]
    assert html.count("<svg") == 3 + 1 + 2  # spend's, the lifts, one over time per segment
    assert pnl.count("<svg class=pnl") == 3 and "<script" not in html
    assert "lifted · meta" in pnl and "flat · google" in pnl
    assert "lifted pays for itself" in pnl
    assert "flat: no spend recorded for its audiences" in pnl


def test_an_outcomes_block_with_its_own_mapping_does_not_read_the_segments_country_column() -> None:
    """The segment's country column belongs to the segment's query: an outcomes block that
    maps its own identifiers reads its own columns (and the segment's default country); one
    that maps none reads the segment's columns, country column included."""
    segment = SegmentShape({IdentifierKind.EMAIL: "email"}, "country", "GB")
    own = DefaultOutcomes(sql="select 1", identifiers={"email": "mail"}, occurred_at="at")
    assert own.shape(segment) == SegmentShape({IdentifierKind.EMAIL: "mail"}, None, "GB")
    inherited = Outcomes(sql="select 1", occurred_at="at")
    assert inherited.shape(segment) == segment


def test_an_audience_given_by_name_finds_its_spend_by_its_segment() -> None:
    """The spend puller files the rows of an audience it found by name under its segment,
    so the P&L weighs such an audience against them rather than calling it free."""
    segment = Segment(sql="select 1", identifiers={"email": "email"})
    audience = Audience(segment="people", destination="d", audience_name="People")
    config = SyncdConfig.model_construct(
        warehouse=DuckDBWarehouse(kind="duckdb", path=Path("unused.duckdb")),
        segments={"people": segment},
        destinations={"d": TypeAdapter(Destination).validate_python(META_SETTINGS)},
        audiences=[audience],
    )
    target = resolve(config, audience, dt.datetime.now(dt.UTC))
    row = {"network": "meta", "account_id": "act_1000", "audience_id": "238", "cost": 12.5}
    rows = pa.Table.from_pylist(
        [
            {**row, "segment": "people", "currency": "USD"},
            {**row, "segment": "others", "currency": "USD"},
            {**row, "account_id": "act_2", "segment": "people", "currency": "USD"},
        ]
    )
    assert pnl_module._spend(target, rows) == (12.5, "USD", True)
