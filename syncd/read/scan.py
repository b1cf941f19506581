"""A segment's query streamed through identity into the pass's spill, a source batch at a
time, for every network that needs it from one scan: memory stays at two source batches
whatever the segment's size (see `syncd.state.spill`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa

from syncd.config.models import Segment
from syncd.members import MEMBER_SCHEMA, QUARANTINE_SCHEMA
from syncd.read.builder import Digests, MemberBuilder
from syncd.read.exclusions import Exclusions
from syncd.read.segments import ReadSegment, SegmentMembers, SpilledSegment
from syncd.sources import Source, SourceError
from syncd.state import Spill
from syncd.state.spill import RawRows
from syncd.targets import Target

#: The most memory the rows kept for fingerprints may take (compressed; about 150 MB for
#: 10M rows of emails and countries): past it, a pass takes identity for every row.
RAW_ROWS_LIMIT = 384 * 1024 * 1024


@dataclass(frozen=True)
class Read:
    """One network's read of a segment, for `target`'s network and consent. With
    `by_fingerprint` (the target's audience is the only one it is read for), the audience's
    held members' fingerprints may stand in for identity (`syncd.fingerprints`)."""

    target: Target
    by_fingerprint: bool = False


def read_segment(source: Source, target: Target) -> SegmentMembers:
    """`spill_segment`, with the members and quarantine read back into memory: for small
    segments and tests (a pass keeps them in its spill)."""
    with Spill.standalone() as spill:
        spilled = spill_segment(source, target, spill)
        members = spill.arrow(
            f"SELECT {', '.join(MEMBER_SCHEMA.names)} FROM {spilled.members.name}"
        )
        quarantine = spill.arrow(
            f"SELECT {', '.join(QUARANTINE_SCHEMA.names)} FROM {spilled.quarantine.name} "
            "ORDER BY rowid"
        )
    return SegmentMembers(
        spilled.rows, members.cast(MEMBER_SCHEMA), quarantine.cast(QUARANTINE_SCHEMA)
    )


def spill_segment(source: Source, target: Target, spill: Spill) -> SpilledSegment:
    """Stream the target's segment through identity for its network into `spill`, a source
    batch at a time; the target's consent defaults fill in rows whose consent columns are
    NULL."""
    (spilled,) = spill_segments(source, [Read(target)], spill)
    assert isinstance(spilled, SpilledSegment)  # not by fingerprint
    return spilled


def spill_segments(
    source: Source, reads: Sequence[Read], spill: Spill, exclusions: Exclusions | None = None
) -> list[ReadSegment]:
    """`spill_segment` for several networks (the reads' targets, all of one segment) from
    one scan of the segment. Each source batch goes through every network's identity and
    into its spill table on a thread of its own, while the next batch is read (the work runs
    in Arrow and DuckDB, outside the GIL); one batch is in the works at a time, so memory
    stays at two source batches whatever the segment's size. A network read by fingerprint
    takes only the rows' digests at first (`Digests`); the rows are kept, compressed in
    memory (`RawRows`), for the few that identity must see after all
    (`MemberBuilder.finish`). The pass's `exclusions` (suppressed and erased people) are
    read on the first segment read that needs them, from `source`; without them, those of
    this read alone (its suppressions, no erasures)."""
    first = reads[0].target
    exclusions = exclusions or Exclusions(spill)
    name, segment = first.audience.segment, first.segment
    digests = Digests(spill)
    builders: list[MemberBuilder] = []
    raw: RawRows | None = None
    rows = 0
    try:
        if first.suppressions is not None:
            exclusions.read_suppressions(source, first.suppressions)
        for read in reads:
            excluded = exclusions.of(read.target)
            builders.append(
                MemberBuilder(read.target, spill, digests, read.by_fingerprint, excluded)
            )
        kept = sorted({column for columns in digests.columns() for column in columns})
        with ThreadPoolExecutor(max_workers=len(builders)) as pool:
            working: list[Future[None]] = []
            for batch in _checked_batches(source, name, segment):
                if kept:  # while the previous batch is in the works
                    columns = batch.select(kept)
                    raw = raw or RawRows(columns.schema, RAW_ROWS_LIMIT)
                    raw.write(columns)
                for done in working:
                    done.result()
                working = []
                if raw is not None and raw.full:  # identity for every row, from now on too
                    for builder in builders:
                        if builder.matching:
                            builder.unmatch(raw)  # this batch included
                        else:
                            builder.build_and_append(batch, rows)
                    digests.drop()
                    raw, kept = None, []
                    rows += len(batch)
                    continue
                working = [
                    pool.submit(b.build_and_append, batch, rows) for b in builders if not b.matching
                ]
                working += [pool.submit(digests.append, batch)] if kept else []
                rows += len(batch)
            for done in working:
                done.result()
        return [builder.finish(rows, raw) for builder in builders]
    except BaseException:
        for builder in builders:
            builder.drop()
        raise
    finally:
        digests.drop()


def _checked_batches(source: Source, name: str, segment: Segment) -> Iterator[pa.RecordBatch]:
    """The query's batches, after checking once that every mapped column is there."""
    try:
        for batch in source.read(segment.sql):
            wanted = {f"identifiers.{k.value}": c for k, c in segment.identifiers.items()}
            if segment.country_column:
                wanted["country_column"] = segment.country_column
            if segment.consent:
                wanted["consent.ad_user_data"] = segment.consent.ad_user_data
                wanted["consent.ad_personalization"] = segment.consent.ad_personalization
            missing = [f"{c!r} ({key})" for key, c in wanted.items() if c not in batch.schema.names]
            if missing:
                raise SourceError(
                    f"column {', '.join(missing)} not in the query result; it has: "
                    f"{', '.join(batch.schema.names)}; fix segments.{name}.sql or the mapping"
                )
            yield batch
    except SourceError as error:
        raise SourceError(f"segment {name}: {error}") from None
