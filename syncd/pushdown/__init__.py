"""Warehouse pushdown: normalize, hash and diff a segment as SQL inside the warehouse.

With `pushdown: true`, the heavy work of a sync (normalizing and hashing every identifier,
deduplicating members, and the anti-joins against what the audience holds) runs as SQL in
the warehouse, and only the changes leave it. The SQL is one sqlglot tree per query,
rendered for DuckDB and PostgreSQL (tested by running it) and for BigQuery and Snowflake.

The rules are `syncd.identity.rules`, the reference, restated in SQL for the kinds SQL can
do exactly (`kinds`); a segment with another kind is refused by `is_pushdownable`, and a
row SQL cannot be sure of is counted as undecidable by the `stats` query. Either way the
caller uses the local path for that segment, so pushdown never sends anything the local
path would not.

Columns are read as text with CAST, exactly as the local path reads them for text and
integer columns; other types (floats, dates, bytes) may print differently in a warehouse.
PostgreSQL databases must be UTF8 (the character tables are literals, and ASCII is told by
byte length). The state table must be readable by the segment's connection: the audience's
held members live in the warehouse, next to the segment.

This package imports nothing: the state imports its member-key SQL (`member_keys`), and
`queries` imports the state, so re-exports here would tie the two in a loop.
"""
