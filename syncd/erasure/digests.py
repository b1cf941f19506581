"""What each network's members hold for the people of a request: every value normalized by
the network's own rules (its `Dialect`), for every network syncd can sync to (not only those
the config uses now: an audience on a network added later must keep the person out too), so
a person is found however each network spells them (a gmail address, a national phone).

A kind the network hashes is kept as sent (the SHA-256 the state's `members` column holds);
a kind it takes in clear (Meta's external id, a mobile id) is kept as the SHA-256 of the
value sent (`rehashed`), so the record never holds an identifier. A request's id is the
SHA-256 of its sorted values: the same people asked again resume the same record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from syncd.destinations.registry import NETWORKS
from syncd.erasure.people import People
from syncd.identity import Dialect, IdentifierKind, normalize_column, sha256_hex_array
from syncd.lift.person import PERSON_KINDS
from syncd.state.erasures import VALUES_SCHEMA


@dataclass(frozen=True)
class NetworkRules:
    """A network an erasure reaches: its registry kind (what `erasure_values.network` and
    `Target.destination.kind` say) and its identity rules."""

    kind: str
    dialect: Dialect


@dataclass(frozen=True)
class Digests:
    """A request ready to record: its id, its values (`VALUES_SCHEMA`, distinct), how many
    people it names, and its invalid lines (line number -> "kind reason" of each value no
    network could read; never the value)."""

    erasure_id: str
    values: pa.Table
    people: int
    invalid: dict[int, list[str]]


def every_network() -> list[NetworkRules]:
    """Every network of the registry: later passes read `erasure_values` per network, so a
    network the config takes up after the request still keeps the erased people out."""
    return [NetworkRules(network.kind, network.capabilities.dialect) for network in NETWORKS]


def digest(
    people: People, networks: Sequence[NetworkRules], default_country: str | None
) -> Digests:
    """Normalize and hash every value for every network. A value no network can read is
    invalid (its line is counted); a person with one readable value is erased by it."""
    if not networks:
        raise ValueError("no network to hash the people for")
    rows = len(people)
    countries = pa.array([default_country] * rows, pa.string()) if default_country else None
    usable = pa.array([False] * rows)
    parts = []
    invalid: dict[int, list[str]] = {line: [reason] for line, reason in people.unreadable.items()}
    for kind in people.kinds:
        refused: pa.Array | None = None  # per row: refused by every network so far
        first_reasons: pa.Array | None = None
        for network in networks:
            column = normalize_column(network.dialect, kind, people.columns[kind], countries)
            valid = pc.is_valid(column.values)
            usable = pc.or_(usable, valid)
            parts.append(_values(network, kind, column.values))
            refusing = pc.is_valid(column.reasons)
            refused = refusing if refused is None else pc.and_(refused, refusing)
            first_reasons = column.reasons if first_reasons is None else first_reasons
        assert refused is not None and first_reasons is not None
        for line, reason in zip(
            pc.filter(people.lines, refused).to_pylist(),
            pc.filter(first_reasons, refused).to_pylist(),
            strict=True,
        ):
            invalid.setdefault(line, []).append(f"{kind.value} {reason}")
    values = _distinct(pa.concat_tables(parts))
    return Digests(erasure_id(values), values, int(pc.sum(usable).as_py() or 0), invalid)


def _values(network: NetworkRules, kind: IdentifierKind, sent: pa.Array) -> pa.Table:
    """The network's values of one kind as `erasure_values` rows: as the members column
    holds them where the network hashes the kind, else their SHA-256."""
    rehashed = kind not in network.dialect.hashed
    digests = sha256_hex_array(sent) if rehashed else sent
    present = pc.is_valid(digests)
    count = int(pc.sum(present).as_py() or 0)
    return pa.table(
        {
            "network": pa.array([network.kind] * count, pa.string()),
            "kind": pa.array([kind.value] * count, pa.string()),
            "digest": pc.filter(digests, present),
            "rehashed": pa.array([rehashed] * count, pa.bool_()),
        },
        schema=VALUES_SCHEMA,
    )


def linked_values(network: str, members: pa.Table) -> pa.Table:
    """The personal values (email, phone, external id, MADID) of the members an erasure
    removes, as `erasure_values` rows of `network`: recorded with the request, they keep the
    person's other values out of later passes once the segment no longer has the row that
    tied them to the erased one (a phone-only row left after the CRM deleted the person)."""
    (rules,) = [rules for rules in every_network() if rules.kind == network]
    parts = [
        _values(rules, kind, members[kind.value].combine_chunks())
        for kind in PERSON_KINDS
        if kind.value in members.column_names
    ]
    return _distinct(pa.concat_tables(parts)) if parts else VALUES_SCHEMA.empty_table()


def _distinct(values: pa.Table) -> pa.Table:
    """Each (network, kind, digest) once, sorted: the same people give the same table."""
    if not len(values):
        return values
    distinct = values.group_by(VALUES_SCHEMA.names, use_threads=False).aggregate([])
    return distinct.select(VALUES_SCHEMA.names).sort_by(
        [(name, "ascending") for name in VALUES_SCHEMA.names]
    )


def erasure_id(values: pa.Table) -> str:
    """`er-` and 16 hex digits of the SHA-256 over the sorted values: one id per set of
    people (and networks), whatever the order or repetitions of the input."""
    digest = hashlib.sha256()
    columns = (values.column(name).to_pylist() for name in ("network", "kind", "digest"))
    for network, kind, value in zip(*columns, strict=True):
        digest.update(f"{network}\x1f{kind}\x1f{value}\n".encode())
    return f"er-{digest.hexdigest()[:16]}"
