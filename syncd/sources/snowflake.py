"""Snowflake warehouse: a segment runs as one query, its result fetched as Arrow.

Credentials follow Snowflake's conventions for services. Key-pair authentication
(`authenticator: snowflake_jwt`, the default) is the one meant for programs: syncd reads the
PEM file named by `private_key_file`, decrypts it with `private_key_passphrase` if it is
encrypted, and hands the connector the key as PKCS#8 DER bytes (`private_key`), as the
connector's documentation does; the user must carry the public key (ALTER USER ... SET
RSA_PUBLIC_KEY). Passwords (`snowflake`) and OAuth access tokens (`oauth`, which syncd does
not refresh) work as well; `externalbrowser` is single sign-on for a person at a laptop. The
secrets come from the environment or from mounted files through the config's ${...}
references; none of them, nor the key, ever appears in an error or a log line.

Streaming. `cursor.fetch_arrow_batches()` yields one Arrow table per result chunk, which the
connector downloads from cloud storage a few at a time (its prefetch threads, within its
memory budget), so memory stays bounded whatever the result's size. Each chunk's batches are
handed on unchanged.

A session cannot be made read-only in Snowflake: give `role` SELECT and USAGE only. The
session carries QUERY_TAG (to find syncd's queries and their credits in QUERY_HISTORY) and
STATEMENT_TIMEOUT_IN_SECONDS (so a runaway query does not keep a warehouse running).

Retries. The connector retries its own HTTP requests (login, query, chunk downloads) with
backoff; syncd adds none. A failure that remains fails this audience's pass with its fix, and
the next sync tries again.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa

from syncd.sources.base import SourceError, redact_literals
from syncd.sources.snowflake_config import SnowflakeWarehouse

log = logging.getLogger(__name__)

#: Seconds a login may take, retries included, before it fails.
LOGIN_TIMEOUT_SECONDS = 60
APPLICATION = "syncd"
INSTALL_HINT = "install the Snowflake extra: pip install 'syncd[snowflake]'"
MIN_SCRUBBED_SECRET = 4

#: The connector's spelling of each authenticator.
AUTHENTICATORS = {
    "snowflake": "SNOWFLAKE",
    "snowflake_jwt": "SNOWFLAKE_JWT",
    "oauth": "OAUTH",
    "externalbrowser": "EXTERNALBROWSER",
}

_MISSING_OBJECT = (
    "a table or view the segment names does not exist, or role {role} may not see it: "
    "check the name (or qualify it as DATABASE.SCHEMA.TABLE), and GRANT USAGE ON its "
    "database and schema and SELECT ON it TO ROLE {role}"
)
#: What to do about an error, by Snowflake's error number (errno): the precise cases first.
_ERRNO_FIXES = {
    2003: _MISSING_OBJECT,
    2043: _MISSING_OBJECT,
    904: "fix the segment SQL: it names a column that does not exist (Snowflake upper-cases "
    "unquoted names)",
    1003: "fix the segment SQL: it has a syntax error",
    3001: "role {role} lacks a privilege: GRANT USAGE ON the database and schema and SELECT ON "
    "the segment's tables TO ROLE {role}",
    606: "no warehouse runs the query: check warehouse.warehouse ({warehouse}) and GRANT "
    "USAGE ON WAREHOUSE {warehouse} TO ROLE {role}",
    630: "the query ran longer than its statement timeout ({timeout}s: "
    "segments.NAME.timeout_seconds, else warehouse.statement_timeout_seconds) and was "
    "cancelled: make the segment SQL cheaper, use a larger warehouse, or raise the timeout",
    390100: "Snowflake refused the login of user {user}: check warehouse.user and the password",
    390144: "Snowflake refused the key-pair login of user {user}: set the public key of "
    "warehouse.private_key_file on the user (ALTER USER {user} SET RSA_PUBLIC_KEY=...) and "
    "check warehouse.account",
    390189: "user {user} may not use role {role}: GRANT ROLE {role} TO USER {user}, or fix "
    "warehouse.role",
    390303: "Snowflake refused the OAuth token (invalid, or for another account): get a new one",
    390318: "the OAuth token has expired: get a new one (syncd does not refresh tokens)",
    250001: "cannot reach Snowflake account {account}: check warehouse.account "
    "(orgname-accountname) and that this host can reach *.snowflakecomputing.com (proxy, "
    "firewall, PrivateLink); the next sync tries again",
}
#: ... then by SQLSTATE class.
_SQLSTATE_FIXES = {
    "08": "the connection to Snowflake failed; the next sync tries again",
    "22": "fix the segment SQL: a value does not fit an expression or cast in it (values are "
    "not shown)",
    "28": "Snowflake refused the login of user {user}: check the credentials",
    "42": "fix the segment SQL, or GRANT role {role} what it reads",
    "57": "Snowflake cancelled the query (statement timeout {timeout}s, a suspended "
    "warehouse, or an administrator); the next sync tries again",
}


class SnowflakeSource:
    """Reads segments from Snowflake. Logs in at once: a refused login fails here, with its
    fix; query errors fail at the first batch."""

    def __init__(
        self, config: SnowflakeWarehouse, connect: Callable[..., Any] | None = None
    ) -> None:
        """`connect` defaults to snowflake.connector.connect; it gets keyword arguments."""
        self._config = config
        self._errors = _import("snowflake.connector.errors")
        if connect is None:
            connect = _import("snowflake.connector").connect
        self._secrets = _secrets(config)
        self._active: Generator[pa.RecordBatch, None, None] | None = None
        #: The session's STATEMENT_TIMEOUT_IN_SECONDS: set at login, changed by a read.
        self._timeout = config.statement_timeout_seconds
        try:
            self._conn = connect(**connect_arguments(config))
        except self._errors.Error as exc:
            raise SourceError(f"cannot log in to Snowflake: {self._problem(exc)}") from None

    def read(self, sql: str, timeout_seconds: int | None = None) -> Iterator[pa.RecordBatch]:
        """Run `sql` and stream its result; an empty result gives one empty batch with the
        columns. `timeout_seconds` becomes the session's STATEMENT_TIMEOUT_IN_SECONDS for
        this read. Starting a read ends an unfinished earlier one."""
        if self._active is not None:
            self._active.close()
        self._active = self._read(sql, timeout_seconds)
        return self._active

    def interrupt(self) -> None:
        """Cancel the session's running query, from a cursor of its own: the reading
        cursor is busy waiting for it."""
        try:
            cursor = self._conn.cursor()
            try:
                cursor.execute("SELECT SYSTEM$CANCEL_ALL_QUERIES(%s)", (self._conn.session_id,))
            finally:
                cursor.close()
        except self._errors.Error as exc:
            log.warning("Snowflake: could not cancel the query: %s", self._problem(exc))

    def close(self) -> None:
        if self._active is not None:
            self._active.close()
        self._conn.close()

    def _read(self, sql: str, timeout: int | None) -> Generator[pa.RecordBatch, None, None]:
        cursor = self._conn.cursor()
        timeout = timeout or self._config.statement_timeout_seconds
        try:
            if timeout != self._timeout:
                cursor.execute(f"ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = {timeout:d}")
                self._timeout = timeout
            cursor.execute(sql)
            handed_on, schema = False, None
            for table in cursor.fetch_arrow_batches():
                schema = schema or table.schema
                for batch in table.to_batches():
                    handed_on = True
                    yield batch
            if not handed_on:  # an empty result may come as no chunk at all
                yield _empty_batch(schema, cursor.description or ())
        except self._errors.NotSupportedError as exc:
            raise SourceError(
                f"the query failed: {self._scrub(str(exc))}; the segment SQL must be one "
                "SELECT query"
            ) from None
        except self._errors.Error as exc:
            raise SourceError(f"the query failed: {self._problem(exc)}") from None
        finally:
            cursor.close()

    def _problem(self, exc: BaseException) -> str:
        """The error with its fix, without values or secrets."""
        errno = getattr(exc, "errno", None)
        sqlstate = str(getattr(exc, "sqlstate", None) or "")
        config = self._config
        template = _ERRNO_FIXES.get(errno) if isinstance(errno, int) else None
        if template is None:
            template = _SQLSTATE_FIXES.get(sqlstate[:2]) or _fix_by_class(exc, self._errors)
        fix = template.format(
            role=config.role or "(the user's default role)",
            user=config.user,
            warehouse=config.warehouse,
            account=config.account,
            timeout=self._timeout,
        )
        return f"{self._scrub(str(exc))}; {fix}"

    def _scrub(self, message: str) -> str:
        message = redact_literals(" ".join(message.split()))
        for secret in self._secrets:
            message = message.replace(secret, "…")
        return message


def connect_arguments(config: SnowflakeWarehouse) -> dict[str, Any]:
    """The keyword arguments of snowflake.connector.connect for this config. They hold the
    secrets: pass them on, never log them."""
    arguments: dict[str, Any] = {
        "account": config.account,
        "user": config.user,
        "authenticator": AUTHENTICATORS[config.authenticator],
        "warehouse": config.warehouse,
        "application": APPLICATION,
        "login_timeout": LOGIN_TIMEOUT_SECONDS,
        "session_parameters": {
            "QUERY_TAG": config.query_tag,
            "STATEMENT_TIMEOUT_IN_SECONDS": config.statement_timeout_seconds,
        },
    }
    for name, value in (
        ("database", config.database),
        ("schema", config.schema_name),
        ("role", config.role),
    ):
        if value is not None:
            arguments[name] = value
    if config.password is not None:
        arguments["password"] = config.password.get_secret_value()
    if config.token is not None:
        arguments["token"] = config.token.get_secret_value()
    if config.private_key_file is not None:
        passphrase = config.private_key_passphrase
        arguments["private_key"] = private_key_der(
            config.private_key_file, passphrase.get_secret_value() if passphrase else None
        )
    return arguments


def private_key_der(path: Path, passphrase: str | None) -> bytes:
    """The PEM private key at `path`, decrypted, as unencrypted PKCS#8 DER: the form the
    connector's `private_key` argument takes in every version."""
    from cryptography.hazmat.primitives import serialization

    where = f"warehouse.private_key_file {path}"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(
            f"cannot read {where}: {exc.strerror}; mount the key there, or fix the path "
            "(relative to the config file)"
        ) from None
    password = passphrase.encode("utf-8") if passphrase is not None else None
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except TypeError:  # cryptography's way to say "encrypted, no passphrase" or the reverse
        if password is None:
            fix = "it is encrypted: set warehouse.private_key_passphrase"
        else:
            fix = "it is not encrypted: remove warehouse.private_key_passphrase"
        raise SourceError(f"cannot use {where}: {fix}") from None
    except ValueError:
        raise SourceError(
            f"cannot use {where}: it is not a PEM private key, or the passphrase is wrong; "
            "make one with `openssl genrsa 2048 | openssl pkcs8 -topk8 -v2 aes256 -out "
            "rsa_key.p8`"
        ) from None
    return key.private_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def _fix_by_class(exc: BaseException, errors: ModuleType) -> str:
    if isinstance(exc, errors.ProgrammingError):
        return "fix the segment SQL, or GRANT role {role} what it reads"
    if isinstance(exc, errors.OperationalError):
        return (
            "cannot reach Snowflake account {account}: check warehouse.account and the "
            "network (proxy, firewall); the next sync tries again"
        )
    if isinstance(exc, errors.InterfaceError):
        return "the connector refused the settings: check the warehouse block"
    return "Snowflake could not run the query; the next sync tries again"


def _secrets(config: SnowflakeWarehouse) -> list[str]:
    """Values that must never appear in a message, whatever quoted them. Shorter ones cannot
    be told apart from ordinary text, and blanking them would garble it."""
    values = (config.password, config.token, config.private_key_passphrase)
    return [
        secret.get_secret_value()
        for secret in values
        if secret is not None and len(secret.get_secret_value()) >= MIN_SCRUBBED_SECRET
    ]


def _empty_batch(schema: pa.Schema | None, description: Sequence[Any]) -> pa.RecordBatch:
    """An empty chunk's own schema, else the column names from the cursor's description (a
    column's name comes first, per DB-API) as strings."""
    if schema is None:
        schema = pa.schema([(str(column[0]), pa.string()) for column in description])
    return pa.RecordBatch.from_pylist([], schema=schema)


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise SourceError(f"warehouse.kind snowflake needs {name}: {INSTALL_HINT}") from None
