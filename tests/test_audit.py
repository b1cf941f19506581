"""`syncd audit`: erasures with their outcomes per audience and runs with suppressed members,
as a table and as JSON, filtered by --since; and nothing in it that could be turned back into
an identifier (no digest, no member key from the state)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from click.testing import CliRunner, Result
from support.erasure_records import record

from syncd.cli import main
from syncd.identity import sha256_hex
from syncd.members import MEMBER_SCHEMA, member_key
from syncd.state import AudienceRef, StateStore
from syncd.state.erasures import AudienceKey

NOW = dt.datetime.now(dt.UTC)
META = AudienceRef("meta:act_1000", "23850000000000001")
EMAILS = ("ann@example.com", "bob@example.com")
KEY = AudienceKey("people->meta", META.destination, META.audience_id, "meta")


def config(root: Path) -> Path:
    data = {
        "warehouse": {"kind": "duckdb", "path": "shop.duckdb"},
        "segments": {"people": {"sql": "select * from people", "identifiers": {"email": "email"}}},
        "destinations": {
            "meta": {"kind": "meta", "ad_account_id": "act_1000", "access_token": "${TEST_TOKEN}"}
        },
        "audiences": [
            {"segment": "people", "destination": "meta", "audience_id": META.audience_id}
        ],
        "state": {"path": "state.duckdb"},
    }
    path = root / "syncd.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def days(ago: int) -> dt.datetime:
    return NOW - dt.timedelta(days=ago)


def run(state: StateStore, days_ago: int, suppressed: int, removes: int) -> str:
    run_id = state.start_run("people->meta", META, "tester")
    summary = {"network": "meta", "suppressed": suppressed, "removes": removes, "adds": 0}
    state.finish_run(run_id, "ok", summary)
    at = NOW - dt.timedelta(days=days_ago)
    state.backend.execute(
        "UPDATE runs SET started_at = ?, finished_at = ? WHERE run_id = ?", [at, at, run_id]
    )
    return run_id


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A state with members, a quarantined member, erasures and runs, and its config."""
    path = config(tmp_path)
    with StateStore.at(tmp_path / "state.duckdb") as state:
        held = [
            {"member_key": member_key((sha256_hex(e), *[None] * 7)), "email": sha256_hex(e)}
            for e in EMAILS
        ]
        table = pa.Table.from_pylist(held, schema=MEMBER_SCHEMA)
        batch = state.begin_batch("r0", META, "add", 1, table)
        state.acknowledge_batch(batch, META, "add", table, "req")
        record(state, "er-recent", KEY, EMAILS, days(3), "done", members=2, requests=1)
        failed = {"members": 1, "requests": 1, "reason": "the token expired"}
        record(state, "er-failed", KEY, EMAILS, days(5), "failed", **failed)
        record(state, "er-old-pending", KEY, EMAILS, days(200))
        record(state, "er-old-done", KEY, EMAILS, days(200), "not_held")
        recent = run(state, 2, suppressed=3, removes=2)
        state.backend.execute(
            "INSERT INTO quarantine VALUES (?, 'people->meta', NULL, 'network:add', 'x', ?)",
            [recent, held[0]["member_key"]],
        )
        run(state, 1, suppressed=0, removes=5)
        run(state, 120, suppressed=4, removes=4)
    return path


def audit(path: Path, *args: str) -> Result:
    result = CliRunner().invoke(main, ["audit", str(path), *args], env={"TEST_TOKEN": "t"})
    assert result.exit_code == 0, result.output
    return result


def test_json_lists_erasures_with_outcomes_and_suppressed_runs(workspace: Path) -> None:
    found = json.loads(audit(workspace, "--format", "json").output)
    erasures = {e["erasure_id"]: e for e in found["erasures"]}
    # Older than 90 days: only the one not done yet.
    assert set(erasures) == {"er-recent", "er-failed", "er-old-pending"}
    failed = erasures["er-failed"]
    assert (failed["status"], failed["people"]) == ("failed", 2)
    [outcome] = failed["outcomes"]
    assert outcome["outcome"] == "failed" and outcome["reason"] == "the token expired"
    assert (outcome["audience"], outcome["network"], outcome["members"]) == (
        "people->meta",
        "meta",
        1,
    )
    [suppressed] = found["suppressions"]
    assert (suppressed["suppressed"], suppressed["removes"], suppressed["status"]) == (3, 2, "ok")
    assert suppressed["network"] == "meta"

    everything = json.loads(audit(workspace, "--format", "json", "--since", "365d").output)
    assert len(everything["erasures"]) == 4
    assert sorted(r["suppressed"] for r in everything["suppressions"]) == [3, 4]
    since = (NOW - dt.timedelta(days=4)).date().isoformat()
    recent = json.loads(audit(workspace, "--format", "json", "--since", since).output)
    # Those not done (pending, failed) are listed however old.
    listed = [e["erasure_id"] for e in recent["erasures"]]
    assert listed == ["er-old-pending", "er-failed", "er-recent"]


def test_table_shows_each_audience_of_each_erasure(workspace: Path) -> None:
    text = audit(workspace).output
    erasures, runs = text.split("Runs with suppressed members")
    line = next(line for line in erasures.splitlines() if line.startswith("er-failed"))
    expected = ["2", "failed", "people->meta", "meta", "failed", "1", "1", "the", "token"]
    assert line.split()[2:] == [*expected, "expired"]
    assert "er-old-done" not in erasures
    [row] = [line for line in runs.splitlines() if "people->meta" in line]
    assert row.split()[1:6] == ["people->meta", "meta", "3", "2", "ok"]


def test_an_audit_holds_no_digest_nor_member_key(workspace: Path) -> None:
    """Every hash-like value the state holds (members, erasure values, quarantine) is absent
    from both outputs, and so is anything shaped like a digest or a UUID."""
    with StateStore.at(workspace.parent / "state.duckdb") as state:
        secrets = {str(v) for (v,) in state.backend.execute("SELECT digest FROM erasure_values")}
        for column in ("member_key", "email"):
            secrets |= {str(v) for (v,) in state.backend.execute(f"SELECT {column} FROM members")}
        secrets |= {
            str(v)
            for (v,) in state.backend.execute(
                "SELECT member_key FROM quarantine WHERE member_key IS NOT NULL"
            )
        }
    assert len(secrets) == 4  # two people: their email hashes (also erased) and member keys
    for output in (
        audit(workspace, "--since", "365d").output,
        audit(workspace, "--since", "365d", "--format", "json").output,
    ):
        assert "er-recent" in output
        assert not [s for s in secrets if s in output or s.replace("-", "") in output]
        # Run ids are 32 hex digits; a SHA-256 is 64, a member key a dashed UUID.
        assert not re.search(r"[0-9a-f]{64}|[0-9a-f]{8}-[0-9a-f]{4}-", output)
        assert not any(email in output for email in EMAILS)
