"""The network-neutral ends of a spend pull for networks that report per group of audiences
(Meta's ad sets, TikTok's ad groups): which managed audiences the pull covers, and the spend
table of the groups' days split evenly (`syncd.spend.split`). Each network's puller keeps its
own reads and the mapping of its rows to `GroupDay`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence

import pyarrow as pa

from syncd.config.models import Audience
from syncd.spend.split import GroupDay, even_split_rows
from syncd.spend.table import SPEND_SCHEMA

__all__ = ["managed_segments", "split_table"]


def managed_segments(
    audiences: Sequence[Audience], find: Callable[[str], str | None], notes: list[str]
) -> dict[str, str]:
    """Audience id -> segment, for the audiences given by id and those ``find`` finds by name
    (a look-up reads and never creates); an audience not found yet is noted."""
    segments = {a.audience_id: a.segment for a in audiences if a.audience_id is not None}
    for audience in audiences:
        name = audience.audience_name
        if name is None:
            continue
        found = find(name)
        if found is None:
            notes.append(f"{audience.name}: no audience named {name!r} (the first sync creates it)")
        else:
            segments[found] = audience.segment
    return segments


def split_table(
    group_days: Iterable[GroupDay | str],
    segments: Mapping[str, str],
    pulled_at: dt.datetime,
    notes: list[str],
    unlisted: str,
) -> pa.Table:
    """Spend rows (SPEND_SCHEMA) of the managed audiences (id -> segment in ``segments``).
    ``group_days`` holds each reported day of a listed group, or the id of a group the report
    has but the listing has not: its targeting is unknown, so its spend cannot be allocated,
    and such groups are counted in a note, ``unlisted`` saying which they are."""
    records = []
    missing: set[str] = set()
    for group in group_days:
        if isinstance(group, str):
            missing.add(group)
        else:
            records.extend(even_split_rows(group, segments, pulled_at))
    if missing:
        unknown = "their targeting is unknown, so their spend is not allocated"
        notes.append(f"{len(missing)} {unlisted}: {unknown}")
    return pa.Table.from_pylist(records, schema=SPEND_SCHEMA)
