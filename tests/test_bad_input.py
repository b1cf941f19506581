"""Bad warehouse data: each bad value is counted with its reason and every good row syncs."""

from __future__ import annotations

import duckdb
from conftest import GOOGLE_LIST, META_AUDIENCE, Workspace, sha

HOMOGLYPH = "\u0430lice@example.com"  # Cyrillic a, then "lice": looks like alice@
ODD_ROWS = f"""
CREATE OR REPLACE TABLE odd AS SELECT * FROM (VALUES
    (1, 'good@example.com', 14155550132, 'US'),            -- phone stored as a number
    (2, NULL, NULL, NULL),                                 -- nothing at all
    (3, repeat('x', 1000000) || '@example.com', NULL, 'US'), -- a megabyte string
    (4, 'bo b@example.com', NULL, 'US'),                   -- an inner space
    (5, '{HOMOGLYPH}', NULL, 'US'),                        -- Cyrillic a: a homoglyph
    (6, 'carol@example.com', 12, 'US'),                    -- a phone too short to exist
    (7, '  ', NULL, 'ZZ')                                  -- blank email, unknown country
) AS t(id, email, phone, country)
"""


def odd_config(workspace: Workspace, sql: str) -> dict:
    data = workspace.config_data()
    data["segments"]["people"]["sql"] = sql
    data["guardrails"] = {"max_invalid_fraction": 1.0}
    return data


def test_odd_values_are_quarantined_and_good_rows_sync(workspace: Workspace) -> None:
    workspace.write_people([])
    with duckdb.connect(str(workspace.warehouse)) as db:
        db.execute(ODD_ROWS)
    sql = "select email, cast(phone as bigint) as phone, country from odd order by id"

    meta, google = workspace.sync(odd_config(workspace, sql))

    assert (meta.status, google.status) == ("ok", "ok")
    assert meta.rows_read == google.rows_read == 7
    assert meta.invalid == {
        "email:invalid_email": 1,
        "email:too_long": 1,
        "phone:invalid_phone": 1,
        "row:no_usable_identifier": 4,
    }
    # Google removes inner whitespace by its rules, so "bo b@" is a good address there.
    assert google.invalid == {
        "email:too_long": 1,
        "phone:invalid_phone": 1,
        "row:no_usable_identifier": 3,
    }
    meta_members = workspace.sandbox.meta.members(META_AUDIENCE)
    assert meta_members == {
        frozenset({("EMAIL", sha("good@example.com")), ("PHONE", sha("14155550132"))}),
        frozenset({("EMAIL", sha(HOMOGLYPH))}),  # kept as written, never merged with alice
        frozenset({("EMAIL", sha("carol@example.com"))}),
    }
    assert frozenset({("emailAddress", sha("bob@example.com"))}) in (
        workspace.sandbox.google.members(GOOGLE_LIST)
    )


def test_bytes_that_are_not_utf8_are_quarantined(workspace: Workspace) -> None:
    workspace.write_people([])
    sql = (
        "select * from (values ('\\xFF\\xFE@example.com'::BLOB, 'US'), "
        "('ok@example.com'::BLOB, 'US')) t(email, country)"
    )
    data = odd_config(workspace, sql)
    data["segments"]["people"]["identifiers"] = {"email": "email"}

    meta, _ = workspace.sync(data)

    assert meta.invalid == {"email:not_utf8": 1, "row:no_usable_identifier": 1}
    assert workspace.sandbox.meta.members(META_AUDIENCE) == {
        frozenset({("EMAIL", sha("ok@example.com"))})
    }


def test_dates_and_booleans_in_identifier_columns_do_not_crash(workspace: Workspace) -> None:
    workspace.write_people([])
    sql = (
        "select 'x@example.com' as email, DATE '2026-01-01' as phone, true as country "
        "union all select 'y@example.com', NULL, NULL"
    )
    meta, _ = workspace.sync(odd_config(workspace, sql))
    assert meta.status == "ok"
    assert meta.invalid == {"phone:phone_needs_country": 1}
    assert len(workspace.sandbox.meta.members(META_AUDIENCE)) == 2


def test_phones_stored_as_double_read_as_the_integers_they_hold(workspace: Workspace) -> None:
    """pandas writes an integer column with NULLs as float64: 4155550102.0 is the US number
    4155550102, never "+41555501020" (Switzerland); a fraction is no phone at all."""
    workspace.write_people([])
    sql = (
        "select * from (values ('a@example.com', 4155550102.0::DOUBLE, 'US'), "
        "('b@example.com', 4155550103.5::DOUBLE, 'US'), ('c@example.com', NULL, 'US')) "
        "t(email, phone, country)"
    )
    meta, google = workspace.sync(odd_config(workspace, sql))

    assert meta.invalid == google.invalid == {"phone:not_an_integer": 1}
    assert frozenset({("EMAIL", sha("a@example.com")), ("PHONE", sha("14155550102"))}) in (
        workspace.sandbox.meta.members(META_AUDIENCE)
    )
    assert frozenset(
        {("emailAddress", sha("a@example.com")), ("phoneNumber", sha("+14155550102"))}
    ) in workspace.sandbox.google.members(GOOGLE_LIST)


def test_control_characters_in_emails_are_quarantined(workspace: Workspace) -> None:
    """A NUL byte (or any control character) in an address can never match: refused with
    its reason, on both networks, while the row's good phone still syncs."""
    workspace.write_people([])
    sql = (
        "select * from (values ('al' || chr(0) || 'ice@example.com', '4155550102', 'US'), "
        "('bob' || chr(27) || '@example.com', NULL, 'US'), ('carol@example.com', NULL, 'US')) "
        "t(email, phone, country)"
    )
    meta, google = workspace.sync(odd_config(workspace, sql))

    assert (
        meta.invalid
        == google.invalid
        == {
            "email:control_character": 2,
            "row:no_usable_identifier": 1,
        }
    )
    assert workspace.sandbox.meta.members(META_AUDIENCE) == {
        frozenset({("PHONE", sha("14155550102"))}),
        frozenset({("EMAIL", sha("carol@example.com"))}),
    }
