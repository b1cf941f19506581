"""The demo's opt-out: after the first passes, one person held in several audiences asks to
be left out (a row in the shop's `opt_outs`, which the config's `suppressions:` reads), one
more pass runs over the audiences holding them, and the emulators, not syncd's own counts,
say whether that person left every one and is in none."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click
import duckdb
import pyarrow as pa

from syncd.config import SyncdConfig
from syncd.demo.segments import SEGMENT_COLUMNS
from syncd.members import build_members
from syncd.pipeline import sync_all
from syncd.targets import Target, targets

if TYPE_CHECKING:
    from syncd.demo.emulators import Emulators

#: How many people in the most segments are weighed to find the one held the most.
_CANDIDATES = 200


def opt_out_pass(config: SyncdConfig, emulators: Emulators, shop: Path) -> str:
    """Opt one person out, sync, and say from how many audiences on how many networks the
    emulators saw them leave. Raises ClickException if any audience still holds them."""
    emulated = [
        target
        for target in targets(config, dt.datetime.now(dt.UTC))
        if target.audience.destination not in emulators.unemulated
    ]
    rows = _candidates(config, shop)
    held = [_held(target, rows, emulators) for target in emulated]
    person = max(range(rows.num_rows), key=lambda row: sum(row in h for h in held))
    before = [t for t, h in zip(emulated, held, strict=True) if person in h]
    with duckdb.connect(str(shop)) as db:
        email = rows.column("email")[person].as_py()
        db.execute("INSERT INTO opt_outs VALUES (?, NULL, now())", [email])

    # A pass over the audiences that held them (`syncd sync --audience`): the others' segments
    # would be read for nothing.
    names = {target.name for target in before}
    results = sync_all(config, only=lambda audience: audience.name in names)
    one = rows.slice(person, 1)
    still = [t.name for t in emulated if _held(t, one, emulators)]
    failed = [r.audience for r in results if r.status != "ok" or r.suppressed < 1]
    if still or failed or len(before) < 2:
        raise click.ClickException(f"opt-out: still held by {still}, failed {failed}")
    networks = {target.network for target in before}
    return (
        "\nOpt-out: a person in several segments asks to be left out (a row in opt_outs, "
        "read by suppressions:); one more pass over the audiences that held them.\n"
        f"opt-out: 1 person suppressed, removed from {len(before)} audiences on "
        f"{len(networks)} networks (each emulator asked: none holds them now)."
    )


def _candidates(config: SyncdConfig, shop: Path) -> pa.Table:
    """The people with an email in the most segments, as the shop stores them."""
    columns = ", ".join(SEGMENT_COLUMNS)
    every = " UNION ALL ".join(
        f"SELECT {columns} FROM ({segment.sql})" for segment in config.segments.values()
    )
    with duckdb.connect(str(shop), read_only=True) as db:
        return db.sql(
            f"SELECT {columns} FROM ({every}) WHERE email IS NOT NULL "
            f"GROUP BY ALL ORDER BY count(*) DESC, email LIMIT {_CANDIDATES}"
        ).to_arrow_table()


def _held(target: Target, rows: pa.Table, emulators: Emulators) -> set[int]:
    """Which of `rows` the target's emulated audience holds, by the hash of their email as
    the target's network reads it."""
    shape = target.segment.shape().carried(target.capabilities.identifier_kinds)
    built = build_members(rows.to_batches()[0], shape, target.capabilities.dialect)
    hashes = iter(built.members.column("email").to_pylist())
    emails = [next(hashes) if kept else None for kept in built.kept.to_pylist()]
    audience = target.audience
    holds = emulators.identifiers(audience.destination, audience.audience_id or "")["email"]
    return {row for row, email in enumerate(emails) if email is not None and email in holds}
