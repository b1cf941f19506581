"""No identifier given to `syncd forget` appears anywhere syncd writes: not in the state (the
erasure tables or any other), not in what forget or --status print, valid or not."""

from __future__ import annotations

import re

import duckdb
from conftest import Workspace, sha
from support.erasure import erasure_id, forget
from support.holdouts import google_emails, meta_emails

from syncd.pipeline import sync_all

# (email, phone) as a CRM export writes them; the last two lines are invalid values.
INPUT = [
    ("  Alice.Smith@Gmail.com ", "(415) 555-0132"),
    ("bob@example.com", ""),
    ("", "+44 20 7946 0958"),
    ("not-an-email", "12"),
    ("carol@@example.org", "+1 999"),
]
#: Every spelling of them that must not appear: as given and as the networks normalize them.
FORMS = [
    "Alice.Smith@Gmail.com",
    "alice.smith@gmail.com",
    "alicesmith@gmail.com",
    "bob@example.com",
    "not-an-email",
    "carol@@example.org",
    "(415) 555-0132",
    "14155550132",
    "4155550132",
    "442079460958",
    "+44 20 7946 0958",
]


def state_text(workspace: Workspace) -> str:
    """Every value of every table in the state, as text."""
    with duckdb.connect(str(workspace.root / "state.duckdb"), read_only=True) as db:
        tables = [row[0] for row in db.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return "\n".join(
            str(row) for table in tables for row in db.execute(f"SELECT * FROM {table}").fetchall()
        )


def test_nothing_forget_reads_is_written_or_printed(workspace: Workspace) -> None:
    workspace.write_people(
        [
            ("alice.smith@gmail.com", "+14155550132", "US", None, None, None),
            ("bob@example.com", None, "US", None, None, None),
            ("dan@example.com", "+442079460958", "GB", None, None, None),
            ("erin@example.com", None, "US", None, None, None),
        ]
    )
    workspace.write_config()
    assert [r.status for r in sync_all(workspace.config())] == ["ok", "ok"]
    text = "".join(f"{email},{phone}\n" for email, phone in INPUT)
    result = forget(
        workspace, "--kind", "email", "--kind", "phone", "--default-country", "US", text=text
    )
    assert result.exit_code == 0, result.output
    assert meta_emails(workspace) == google_emails(workspace) == {sha("erin@example.com")}
    assert "line 4: email invalid_email, phone invalid_phone" in result.stderr
    assert "line 5: " in result.stderr

    identifier = erasure_id(result)
    printed = [
        result.stdout,
        result.stderr,
        forget(workspace, "--status", identifier).stdout,
        forget(workspace, "--status", identifier, "--json").stdout,
    ]
    stored = state_text(workspace)
    raw_file = (workspace.root / "state.duckdb").read_bytes()
    for form in FORMS:
        for where, text in [("output", "\n".join(printed)), ("state", stored)]:
            assert form.lower() not in text.lower(), f"{form!r} in the {where}"
        assert form.encode() not in raw_file, f"{form!r} in the state file"
    with duckdb.connect(str(workspace.root / "state.duckdb"), read_only=True) as db:
        digests = [row[0] for row in db.execute("SELECT digest FROM erasure_values").fetchall()]
    assert digests and all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in digests)
