"""Why a state store cannot be opened, said once: which file, directory or server, and what
to do about it, in one line the CLI prints instead of a traceback and the daemon logs.

The backends raise `StateUnavailable` from what DuckDB, the file system and psycopg say.
A DSN is shown as user, host, port and database only: never its password, which libpq
sometimes echoes in its own messages.
"""

from __future__ import annotations

import re
from pathlib import Path


class StateUnavailable(RuntimeError):
    """The state (or the spend table beside it) cannot be opened; the message names the
    place and the fix."""


def directory_unwritable(directory: Path, error: OSError) -> StateUnavailable:
    return StateUnavailable(
        f"the state directory {directory.absolute()} cannot be created or written "
        f"({error.strerror}): syncd keeps its state file, journal (.wal) and spill (.tmp) "
        "there; make it writable, or set state.path to a file in a writable directory"
    )


def is_locked(message: str) -> bool:
    """Whether DuckDB refused a file because another process holds it (its message names
    the file, whose path may say "lock" too)."""
    return "Could not set lock on file" in message


def duckdb_unavailable(path: Path, message: str, waited: float) -> StateUnavailable:
    """What DuckDB's refusal to open `path` means, after `waited` seconds for its lock."""
    path = path.absolute()
    if is_locked(message):
        holder = re.search(r"\(PID (\d+)\)", message)
        by = f"process {holder.group(1)}" if holder else "another process"
        return StateUnavailable(
            f"the state file {path} is in use by {by} (waited {waited:.0f} s for it): let that "
            "sync finish or stop it, or give this syncd its own state.path"
        )
    if "not a valid DuckDB database" in message:
        if path.exists() and path.stat().st_size == 0:
            return StateUnavailable(
                f"the state file {path} is empty (0 bytes, left by a crash or a full disk "
                "while it was created); it holds nothing: delete it and sync again"
            )
        return StateUnavailable(
            f"the state file {path} is not a DuckDB database: restore it from a backup, or "
            "set state.path to another file (a fresh state re-sends every member and cannot "
            "remove those who left their segment before)"
        )
    return StateUnavailable(f"cannot open the state file {path}: {_first_line(message)}")


def postgres_unavailable(dsn: str, schema: str, error: Exception) -> StateUnavailable:
    """What psycopg's failure to connect to `dsn`, or to set up `schema` there, means."""
    where, reason = where_and_why(dsn, str(error))
    sqlstate = getattr(error, "sqlstate", None)
    if where is None:
        return StateUnavailable(
            "the PostgreSQL dsn is neither a libpq URI (postgresql://user:password@host:port/"
            "database) nor a key=value string: write it as one"
        )
    if sqlstate == _INSUFFICIENT_PRIVILEGE:
        return StateUnavailable(
            f"PostgreSQL at {where} refused to set up schema {schema}: {reason}: grant "
            "syncd's role CREATE on the database, or create the schema and let the role own it"
        )
    if sqlstate is None or sqlstate.startswith(_CONNECTION_EXCEPTION):
        return StateUnavailable(
            f"cannot reach PostgreSQL at {where}: {reason}: check the dsn (host, port, "
            "database, user, password) and that the server is up"
        )
    return StateUnavailable(
        f"PostgreSQL at {where} could not set up schema {schema}: {reason} "
        f"(SQLSTATE {sqlstate}): see the server's log"
    )


#: SQLSTATEs (PostgreSQL's Appendix A): a role without the right, and the class of
#: connection failures; a failed connect carries none at all.
_INSUFFICIENT_PRIVILEGE = "42501"
_CONNECTION_EXCEPTION = "08"


def where_and_why(dsn: str, message: str) -> tuple[str | None, str]:
    """The server as postgresql://user@host:port/database, and psycopg's first line with
    the password masked; (None, "") for a DSN libpq cannot parse (its parse error quotes the
    DSN, password and all)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = {key: str(value) for key, value in conninfo_to_dict(dsn).items()}
    except psycopg.Error:
        return None, ""
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    where = f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"
    reason = _first_line(message)
    if password := parts.get("password"):
        reason = reason.replace(password, "***")
    return where, reason


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "no reason given"
