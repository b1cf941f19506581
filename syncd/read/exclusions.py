"""Who no audience of a pass may hold: the people of the `suppressions:` query and the people
erased by `syncd forget` (the state's `erasure_values`, one row per network, kind and value).

Both are read once per pass, when the first segment read needs them: the query's rows from
the warehouse (a list of people, small beside a segment), the erasures from the state. Each
network's share is made once, in the pass's spill, and shared by every read of the pass:
the suppressed people normalized by the network's rules (`syncd.members.build_members`), the
erased values as the state's member columns hold them. A builder (`syncd.read.builder`)
drops every member sharing an email, phone or id with either (`Excluded.predicates`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from syncd.config.suppressions import Suppressions
from syncd.lift.person import PERSON_KINDS
from syncd.members import MEMBER_SCHEMA, build_members
from syncd.sources import Source, SourceError
from syncd.state import Spill, StateStore
from syncd.targets import Target

#: The state table `syncd forget` records erased people in (owned by `syncd.state.erasures`).
ERASURE_VALUES = "erasure_values"
_ERASED_SCHEMA = pa.schema(
    [("kind", pa.string()), ("digest", pa.string()), ("rehashed", pa.bool_())]
)


@dataclass(frozen=True)
class Excluded:
    """One network's excluded people in the pass's spill: `suppressed`, a table of the
    suppressed people's person columns (`suppressed_columns`) as the network reads them;
    `erased`, a table of (kind, digest, rehashed) erasure values, with the (kind, rehashed)
    pairs it holds."""

    suppressed: str | None
    suppressed_columns: tuple[str, ...]
    erased: str | None
    erased_kinds: frozenset[tuple[str, bool]]

    def predicates(self, columns: list[str]) -> tuple[str, str]:
        """SQL over a members table with `columns`: whether a member is suppressed, and
        whether it is erased (it shares a value of one of its columns with either). An
        erased value the network does not hash is compared by its SHA-256, as recorded."""
        suppressed = [
            f"coalesce({c} IN (SELECT {c} FROM {self.suppressed} WHERE {c} IS NOT NULL), false)"
            for c in columns
            if self.suppressed is not None and c in self.suppressed_columns
        ]
        erased = [
            f"coalesce({'sha256(' + c + ')' if rehashed else c} IN (SELECT digest FROM "
            f"{self.erased} WHERE kind = '{c}' AND rehashed = {rehashed}), false)"
            for c in columns
            for rehashed in (False, True)
            if (c, rehashed) in self.erased_kinds
        ]
        return " OR ".join(suppressed) or "false", " OR ".join(erased) or "false"


class Exclusions:
    """The suppressed and erased people of one pass, read when first needed and shared by
    every read of the pass. `state` is None outside a pass (a segment read on its own): no
    erasures then."""

    def __init__(self, spill: Spill, state: StateStore | None = None) -> None:
        self.spill = spill
        self._state = state
        self._lock = threading.Lock()
        self._rows: list[pa.RecordBatch] | SourceError | None = None
        self._suppressions: Suppressions | None = None
        self._erased: dict[str, tuple[str, frozenset[tuple[str, bool]]]] | None = None
        self._by_network: dict[str, Excluded | None] = {}

    def read_suppressions(self, source: Source, suppressions: Suppressions) -> None:
        """Read the suppressions query from `source` unless this pass has read it already.
        Raises SourceError, the same one for every later read, when it failed: nothing is
        sent without knowing whom to leave out."""
        with self._lock:
            if self._rows is None:
                self._suppressions = suppressions
                self._rows = _read(source, suppressions)
            if isinstance(self._rows, SourceError):
                raise self._rows

    def erased_kinds(self, network: str) -> frozenset[tuple[str, bool]]:
        """The (kind, rehashed) pairs the state records erased people of `network` (a
        registry kind) by; empty when it records none. Pushdown compares the warehouse's
        members with `erasure_values` itself (`syncd.pushdown.erasures`), by these."""
        with self._lock:
            return self._erasures().get(network, (None, frozenset()))[1]

    def of(self, target: Target) -> Excluded | None:
        """The target's network's excluded people, or None when it has none to exclude.
        With suppressions, `read_suppressions` must have read them first."""
        network = target.destination.kind
        with self._lock:
            if network not in self._by_network:
                self._by_network[network] = self._excluded(target)
            return self._by_network[network]

    def _excluded(self, target: Target) -> Excluded | None:
        suppressed, columns = None, ()
        if target.suppressions is not None:
            assert isinstance(self._rows, list), "read_suppressions first"
            suppressed, columns = self._normalized(target)
        erased, kinds = self._erasures().get(target.destination.kind, (None, frozenset()))
        if suppressed is None and erased is None:
            return None
        return Excluded(suppressed, columns, erased, kinds)

    def _normalized(self, target: Target) -> tuple[str, tuple[str, ...]]:
        """The suppressed people's person columns as the target's network reads them."""
        assert self._suppressions is not None and isinstance(self._rows, list)
        capabilities = target.capabilities
        shape = self._suppressions.shape().carried(capabilities.identifier_kinds)
        columns = tuple(k.value for k in PERSON_KINDS if k in shape.identifiers)
        schema = pa.schema([MEMBER_SCHEMA.field(column) for column in columns])
        table = self.spill.create("suppressed", schema)
        for batch in self._rows:
            built = build_members(batch, shape, capabilities.dialect).members
            self.spill.append(table, built.select(list(columns)))
        return table, columns

    def _erasures(self) -> dict[str, tuple[str, frozenset[tuple[str, bool]]]]:
        """Per network, the spill table of its erasure values and the (kind, rehashed)
        pairs in it; read from the state once per pass. Until the state has the table
        (an older state, or no `syncd forget` yet), nobody is erased."""
        if self._erased is not None:
            return self._erased
        self._erased = {}
        if self._state is None or not _has_table(self._state, ERASURE_VALUES):
            return self._erased
        values = self._state.backend.arrow(
            f"SELECT DISTINCT network, kind, digest, rehashed FROM {ERASURE_VALUES}"
        )
        for network in sorted(set(values.column("network").to_pylist())):
            mine = values.filter(pc.equal(values.column("network"), network))
            rows = mine.select(_ERASED_SCHEMA.names).cast(_ERASED_SCHEMA)
            table = self.spill.create("erased", _ERASED_SCHEMA)
            self.spill.append(table, rows)
            kinds = zip(
                rows.column("kind").to_pylist(), rows.column("rehashed").to_pylist(), strict=True
            )
            self._erased[network] = (
                table,
                frozenset((k, r) for k, r in kinds if k in {p.value for p in PERSON_KINDS}),
            )
        return self._erased


def _read(source: Source, suppressions: Suppressions) -> list[pa.RecordBatch] | SourceError:
    """The suppressions query's rows, or the error that says what to fix."""
    rows = []
    try:
        for batch in source.read(suppressions.sql):
            missing = [c for c in suppressions.identifiers.values() if c not in batch.schema.names]
            if missing:
                raise SourceError(
                    f"column {', '.join(map(repr, missing))} not in the query result; it has: "
                    f"{', '.join(batch.schema.names)}; fix suppressions.sql or its identifiers"
                )
            rows.append(batch)
    except SourceError as error:
        return SourceError(f"suppressions: {error}")
    return rows


def _has_table(state: StateStore, name: str) -> bool:
    """Whether the state's schema has the table (DuckDB and PostgreSQL alike)."""
    ((found,),) = state.backend.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
        "AND table_schema = current_schema() AND table_catalog = current_database()",
        [name],
    )
    return bool(found)
