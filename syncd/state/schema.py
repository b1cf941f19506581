"""The state's tables, and the upgrades that bring a state written by an earlier syncd to
this one's format when a store opens it.

Every format change (a column added, keys computed again, a type narrowed) lives here,
beside the earlier ones it must compose with and apart from what a pass does with the
tables, and runs once per open, before a pass reads anything.
"""

from __future__ import annotations

from syncd.fingerprints import SQL_TYPE
from syncd.members import HASHED_COLUMNS, IDENTIFIER_COLUMNS, member_key_sql
from syncd.state import alerts, erasures, experiments, journal
from syncd.state.backends import Backend, DuckDBBackend

_MEMBERS = """
CREATE TABLE IF NOT EXISTS members (
    destination VARCHAR NOT NULL,
    audience_id VARCHAR NOT NULL,
    member_key {key_type} NOT NULL,
    {identifiers},
    status {status_type} NOT NULL,
    synced_at TIMESTAMPTZ NOT NULL,
    batch_id VARCHAR,
    fingerprint {fingerprint_type}{key}
)
"""
_MEMBERS_KEY = ",\n    PRIMARY KEY (destination, audience_id, member_key)"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    audience VARCHAR NOT NULL,
    destination VARCHAR NOT NULL,
    audience_id VARCHAR NOT NULL,
    holder VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status VARCHAR NOT NULL,
    summary VARCHAR,
    error VARCHAR
);
CREATE TABLE IF NOT EXISTS batches (
    batch_id VARCHAR PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    operation VARCHAR NOT NULL,
    batch_number INTEGER NOT NULL,
    members INTEGER NOT NULL,
    status VARCHAR NOT NULL,
    request_id VARCHAR,
    sent_at TIMESTAMPTZ NOT NULL,
    settled_at TIMESTAMPTZ,
    error VARCHAR
);
CREATE TABLE IF NOT EXISTS leases (
    name VARCHAR PRIMARY KEY,
    holder VARCHAR NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    run_id VARCHAR NOT NULL,
    audience VARCHAR NOT NULL,
    row_number BIGINT,
    kind VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    member_key VARCHAR
);
"""

#: The member key's format (`syncd.members`): 2 is the MD5 of the sent values as a UUID; the
#: state files and schemas of earlier versions hold 1, their SHA-256 as hex text.
MEMBER_KEY_FORMAT = 2

_STATE_FORMAT = """
CREATE TABLE IF NOT EXISTS state_format (
    name VARCHAR PRIMARY KEY,
    version INTEGER NOT NULL
)
"""


class StateFormatError(RuntimeError):
    """The state was written by a newer syncd, in a format this one does not know."""


def _identifiers_ddl(hash_storage: str) -> str:
    """The identifier columns of `members` and `batch_members`, those holding hashes
    stored as `hash_storage` says (`Backend.hash_storage`)."""
    return ", ".join(
        f"{name} VARCHAR{hash_storage if name in HASHED_COLUMNS else ''}"
        for name in IDENTIFIER_COLUMNS
    )


def _status_ddl(enum: bool) -> str:
    """The type of `members.status`: an ENUM of its values where the backend has them
    (`Backend.status_enum`), else text."""
    return f"ENUM({', '.join(map(repr, journal.MEMBER_STATUSES))})" if enum else "VARCHAR"


def _batch_members_ddl(
    member_key_type: str, hash_storage: str, table: str = "batch_members"
) -> str:
    """`batch_members`: the members of batches other than adds of members not held; and
    `pending_removals`, the same for removals folded while their batch was pending."""
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (batch_id VARCHAR NOT NULL, "
        f"destination VARCHAR NOT NULL, audience_id VARCHAR NOT NULL, "
        f"member_key {member_key_type} NOT NULL, {_identifiers_ddl(hash_storage)})"
    )


def create_or_upgrade(backend: Backend) -> None:
    """The state's tables, created where missing and brought up to this version's format
    (inside `Backend.setup`, so stores opened at once take turns). A state of a newer format
    is refused before anything in it is touched."""
    backend.execute(_STATE_FORMAT)
    _member_key_format(backend)
    backend.execute(
        _MEMBERS.format(
            key=_MEMBERS_KEY if backend.keyed_members else "",
            key_type=backend.member_key_type,
            fingerprint_type=backend.fingerprint_type,
            identifiers=_identifiers_ddl(backend.hash_storage),
            status_type=_status_ddl(backend.status_enum),
        )
    )
    # Members staged for a batch carry its id (see `journal`), and members a fingerprint
    # (`syncd.fingerprints`): older files lack them.
    backend.execute("ALTER TABLE members ADD COLUMN IF NOT EXISTS batch_id VARCHAR")
    backend.execute(
        "ALTER TABLE members ADD COLUMN IF NOT EXISTS fingerprint " + backend.fingerprint_type
    )
    if not backend.keyed_members:
        _drop_members_key(backend)
    backend.execute(_batch_members_ddl(backend.member_key_type, backend.hash_storage))
    backend.execute(
        _batch_members_ddl(backend.member_key_type, backend.hash_storage, table="pending_removals")
    )
    backend.execute(experiments.HISTORY_DDL)
    erasures.create(backend)
    alerts.create(backend)
    for statement in filter(str.strip, _SCHEMA.split(";")):
        backend.execute(statement)
    _migrate_member_keys(backend)
    _status_as_enum(backend)


def _duckdb_members(key_type: str) -> str:
    """`members` of a DuckDB state, without a primary key, its keys of `key_type`."""
    return _MEMBERS.format(
        key="",
        key_type=key_type,
        fingerprint_type=SQL_TYPE,
        identifiers=_identifiers_ddl(DuckDBBackend.hash_storage),
        status_type=_status_ddl(DuckDBBackend.status_enum),
    )


def _copy_into_new(backend: Backend, table: str, create: str, select: str = "*") -> None:
    """Replace a DuckDB table with one made by `create`, its rows copied across (`select`
    over the old one). Not an ALTER: the WAL would keep its expression, and replaying one
    after a crash may need an extension DuckDB then tries to download. A copy is logged as
    rows."""
    backend.execute(f"ALTER TABLE {table} RENAME TO {table}_before_upgrade")
    backend.execute(create)
    backend.execute(f"INSERT INTO {table} SELECT {select} FROM {table}_before_upgrade")
    backend.execute(f"DROP TABLE {table}_before_upgrade")


def _column_type(backend: Backend, table: str, column: str) -> str:
    """A column's type in the DuckDB state."""
    ((found,),) = backend.execute(
        "SELECT data_type FROM duckdb_columns() WHERE table_name = ? AND column_name = ? "
        "AND schema_name = current_schema() AND database_name = current_database()",
        [table, column],
    )
    return str(found)


def _drop_members_key(backend: Backend) -> None:
    """State files made before members lost its primary key get the table rebuilt without
    it, once, in one transaction (DuckDB cannot drop a constraint)."""
    keyed = backend.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'members' "
        "AND schema_name = current_schema() AND database_name = current_database() "
        "AND constraint_type = 'PRIMARY KEY'"
    )
    if not keyed[0][0]:
        return
    with backend.transaction():
        # Keyed files predate UUID member keys: `_migrate_member_keys` converts them next.
        _copy_into_new(backend, "members", _duckdb_members(key_type="VARCHAR"))


def _rebuild_with_uuid_keys(backend: Backend, table: str) -> None:
    """A DuckDB table with text keys, copied into one with UUID keys computed again."""
    if _column_type(backend, table, "member_key") == "UUID":  # created by this version
        return
    create = (
        _duckdb_members(key_type="UUID")
        if table == "members"
        else _batch_members_ddl("UUID", DuckDBBackend.hash_storage)
    )
    key = member_key_sql(IDENTIFIER_COLUMNS)
    _copy_into_new(backend, table, create, f"* REPLACE ({key} AS member_key)")


def _status_as_enum(backend: Backend) -> None:
    """Members' statuses, text in the DuckDB files of earlier versions, become the ENUM of
    this one (`Backend.status_enum`): the members are copied across, once, in one
    transaction (4M members: 1.6 s)."""
    if backend.status_enum and _column_type(backend, "members", "status") == "VARCHAR":
        with backend.transaction():
            _copy_into_new(backend, "members", _duckdb_members(key_type="UUID"))


def _member_key_format(backend: Backend) -> int:
    """The state's member-key format (1 before `state_format` existed); a newer one than
    this syncd knows is refused."""
    found = backend.execute("SELECT version FROM state_format WHERE name = 'member_key'")
    version = int(found[0][0]) if found else 1
    if version > MEMBER_KEY_FORMAT:
        raise StateFormatError(
            f"the state's member keys are in format {version}, written by a newer syncd; "
            f"this one reads format {MEMBER_KEY_FORMAT}: run the newer syncd"
        )
    return version


def _migrate_member_keys(backend: Backend) -> None:
    """Rewrite the member keys of a state written before format 2, once, in one transaction:
    each is computed again from the identifiers beside it, so what an audience holds and
    what is in flight keep their meaning (a 4M-member DuckDB state took 3.3 s). Replicas
    opening a state at once take turns (`Backend.setup`), and the later ones find it done."""
    with backend.transaction():
        if _member_key_format(backend) == MEMBER_KEY_FORMAT:
            return
        for table in ("members", "batch_members"):
            if backend.sql_dialect == "duckdb":
                _rebuild_with_uuid_keys(backend, table)
            else:
                from syncd.pushdown.dialects import Dialect  # sqlglot, for PostgreSQL only
                from syncd.pushdown.member_keys import member_key_text

                key = member_key_text(Dialect(backend.sql_dialect))
                backend.execute(f"UPDATE {table} SET member_key = {key}")
        backend.execute(
            "INSERT INTO state_format VALUES ('member_key', ?) "
            "ON CONFLICT (name) DO UPDATE SET version = excluded.version",
            [MEMBER_KEY_FORMAT],
        )
