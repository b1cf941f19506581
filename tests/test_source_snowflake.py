"""SnowflakeSource without Snowflake: an injected `connect` records the keyword arguments the
source builds for each authenticator, and a fake cursor answers with real Arrow tables or
the connector's real exception classes.

This tests the source's own logic (config validation, login arguments, key-pair loading,
streaming, error messages); it does not test Snowflake. Sockets are closed for the whole
module."""

from __future__ import annotations

import socket
import subprocess
import sys
import typing
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml
from pydantic import ValidationError

connector = pytest.importorskip("snowflake.connector")

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from snowflake.connector import errors  # noqa: E402

from syncd.sources import SourceError  # noqa: E402
from syncd.sources.snowflake import SnowflakeSource, connect_arguments  # noqa: E402
from syncd.sources.snowflake_config import SnowflakeWarehouse  # noqa: E402

EMAIL = "alice@example.com"
PASSWORD = "Pw-secret-7d1e"
TOKEN = "oauth-token-3f9a"
PASSPHRASE = "key-passphrase-55c2"
SQL = "select email, phone from crm.people where country = 'FR'"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach Snowflake fails the test loudly instead of going out."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# -- fakes --------------------------------------------------------------------------------------


class FakeCursor:
    def __init__(
        self,
        tables: list[pa.Table | BaseException] | None = None,
        error: BaseException | None = None,
        description: tuple[tuple[str, ...], ...] = (),
    ) -> None:
        self.tables = tables or []
        self.error = error
        self.description = description
        self.executed: list[str] = []
        self.params: list[object] = []
        self.closed = False

    def execute(self, sql: str, params: object = None) -> FakeCursor:
        self.executed.append(sql)
        self.params.append(params)
        if self.error is not None:
            raise self.error
        return self

    def fetch_arrow_batches(self) -> Iterator[pa.Table]:
        for item in self.tables:
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.closed = True


class FakeConnection:
    session_id = 8120

    def __init__(self, cursor: FakeCursor) -> None:
        self._cursor = cursor
        self.closed = False

    def cursor(self) -> FakeCursor:
        return self._cursor

    def close(self) -> None:
        self.closed = True


class Connect:
    """Stands for snowflake.connector.connect: records its keyword arguments."""

    def __init__(self, cursor: FakeCursor | None = None, error: BaseException | None = None):
        self.cursor = cursor or FakeCursor()
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> FakeConnection:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        return FakeConnection(self.cursor)


BASE = {
    "kind": "snowflake",
    "account": "myorg-shop",
    "user": "SYNCD",
    "warehouse": "SYNCD_WH",
    "database": "SHOP",
    "schema": "CRM",
    "role": "SYNCD_READER",
}


def warehouse(**overrides: Any) -> SnowflakeWarehouse:
    values = {**BASE, "authenticator": "snowflake", "password": PASSWORD, **overrides}
    return SnowflakeWarehouse.model_validate({k: v for k, v in values.items() if v is not None})


def people(*emails: str) -> pa.Table:
    return pa.table({"EMAIL": pa.array(emails, pa.string())})


# -- config -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        (
            {"password": PASSWORD},  # the default authenticator is key-pair
            "authenticator snowflake_jwt needs private_key_file (the credentials given fit "
            "authenticator snowflake)",
        ),
        ({"authenticator": "snowflake"}, "authenticator snowflake needs password"),
        (
            {"authenticator": "snowflake", "password": PASSWORD, "token": TOKEN},
            "authenticator snowflake does not use token",
        ),
        (
            {"authenticator": "oauth", "token": TOKEN, "private_key_passphrase": PASSPHRASE},
            "authenticator oauth does not use private_key_passphrase",
        ),
        ({"authenticator": "oauth", "password": PASSWORD}, "authenticator oauth needs token"),
        (
            {"authenticator": "externalbrowser", "password": PASSWORD},
            "authenticator externalbrowser does not use password",
        ),
        (
            {"authenticator": "snowflake_jwt", "private_key_passphrase": PASSPHRASE},
            "authenticator snowflake_jwt needs private_key_file",
        ),
        (
            {"authenticator": "snowflake_jwt", "private_key_file": "k.p8", "token": TOKEN},
            "authenticator snowflake_jwt does not use token",
        ),
        ({"authenticator": "kerberos", "password": PASSWORD}, "authenticator"),
    ],
)
def test_credentials_must_fit_the_authenticator(credentials: dict[str, str], expected: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SnowflakeWarehouse.model_validate({**BASE, **credentials})
    text = str(caught.value)
    assert expected in text
    for secret in (PASSWORD, TOKEN, PASSPHRASE):
        assert secret not in text
        assert secret not in repr(caught.value)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"account": "myorg-shop.snowflakecomputing.com"}, "without .snowflakecomputing.com"),
        ({"account": "https://myorg-shop"}, "account"),
        ({"user": None}, "user"),
        ({"warehouse": None}, "warehouse"),
        ({"warehouse": "MY WH"}, "warehouse"),
        ({"statement_timeout_seconds": 0}, "statement_timeout_seconds"),
        ({"passwd": PASSWORD}, "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_are_refused_without_echoing_secrets(
    overrides: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        warehouse(**overrides)
    assert expected in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_every_authenticator_has_a_valid_config(tmp_path: Path) -> None:
    assert warehouse().authenticator == "snowflake"
    assert warehouse(password=None, authenticator="oauth", token=TOKEN).token is not None
    browser = warehouse(password=None, authenticator="externalbrowser")
    assert browser.password is None
    jwt = warehouse(password=None, authenticator=None, private_key_file=str(tmp_path / "k.p8"))
    assert jwt.authenticator == "snowflake_jwt"
    assert jwt.schema_name == "CRM"  # written `schema:` in YAML
    assert PASSWORD not in repr(warehouse())


# -- login arguments ----------------------------------------------------------------------------

SESSION = {"QUERY_TAG": "syncd", "STATEMENT_TIMEOUT_IN_SECONDS": 900}
COMMON = {
    "account": "myorg-shop",
    "user": "SYNCD",
    "warehouse": "SYNCD_WH",
    "database": "SHOP",
    "schema": "CRM",
    "role": "SYNCD_READER",
    "application": "syncd",
    "login_timeout": 60,
    "session_parameters": SESSION,
}


def logged_in_with(config: SnowflakeWarehouse) -> dict[str, Any]:
    connect = Connect()
    SnowflakeSource(config, connect).close()
    (kwargs,) = connect.calls
    return kwargs


def test_password_login() -> None:
    assert logged_in_with(warehouse()) == {
        **COMMON,
        "authenticator": "SNOWFLAKE",
        "password": PASSWORD,
    }


def test_oauth_login() -> None:
    config = warehouse(password=None, authenticator="oauth", token=TOKEN)
    assert logged_in_with(config) == {**COMMON, "authenticator": "OAUTH", "token": TOKEN}


def test_browser_login_sends_no_secret_and_optional_names_are_left_out() -> None:
    config = warehouse(
        password=None, authenticator="externalbrowser", database=None, schema=None, role=None
    )
    expected = {**COMMON, "authenticator": "EXTERNALBROWSER"}
    for name in ("database", "schema", "role"):
        del expected[name]
    assert logged_in_with(config) == expected


def test_query_tag_and_timeout_go_into_the_session() -> None:
    config = warehouse(query_tag="syncd-prod", statement_timeout_seconds=600)
    session = logged_in_with(config)["session_parameters"]
    assert session == {"QUERY_TAG": "syncd-prod", "STATEMENT_TIMEOUT_IN_SECONDS": 600}


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def der(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_key(key: rsa.RSAPrivateKey, path: Path, passphrase: str | None) -> Path:
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    return path


def key_pair(path: Path, passphrase: str | None) -> SnowflakeWarehouse:
    return warehouse(
        password=None,
        authenticator="snowflake_jwt",
        private_key_file=str(path),
        private_key_passphrase=passphrase,
    )


@pytest.mark.parametrize("passphrase", [None, PASSPHRASE], ids=["plain", "encrypted"])
def test_key_pair_login_passes_the_decrypted_key_as_der(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path, passphrase: str | None
) -> None:
    path = write_key(rsa_key, tmp_path / "rsa_key.p8", passphrase)
    kwargs = logged_in_with(key_pair(path, passphrase))
    assert kwargs == {**COMMON, "authenticator": "SNOWFLAKE_JWT", "private_key": der(rsa_key)}
    # The connector gets the key itself: no file path, no passphrase.
    assert PASSPHRASE not in repr(kwargs)


@pytest.mark.parametrize(
    ("written_with", "configured", "expected"),
    [
        (PASSPHRASE, None, "it is encrypted: set warehouse.private_key_passphrase"),
        (None, PASSPHRASE, "it is not encrypted: remove warehouse.private_key_passphrase"),
        (PASSPHRASE, "wrong-passphrase-1", "or the passphrase is wrong"),
    ],
)
def test_key_problems_are_explained_without_secrets(
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    written_with: str | None,
    configured: str | None,
    expected: str,
) -> None:
    path = write_key(rsa_key, tmp_path / "rsa_key.p8", written_with)
    connect = Connect()
    with pytest.raises(SourceError) as caught:
        SnowflakeSource(key_pair(path, configured), connect)
    message = str(caught.value)
    assert expected in message
    assert str(path) in message
    assert PASSPHRASE not in message and "wrong-passphrase-1" not in message
    assert "PRIVATE KEY" not in message
    assert connect.calls == []


def test_a_missing_or_garbled_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"cannot read warehouse\.private_key_file"):
        SnowflakeSource(key_pair(tmp_path / "absent.p8", None), Connect())
    garbled = tmp_path / "garbled.p8"
    garbled.write_text("not a key")
    with pytest.raises(SourceError, match="it is not a PEM private key"):
        SnowflakeSource(key_pair(garbled, None), Connect())


def test_the_real_connector_takes_the_arguments_as_they_are(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """Each argument lands on a known connector setting, without a deprecation warning."""
    config_class = getattr(connector, "ConnectionConfig", None)
    if config_class is None:
        pytest.skip("this connector has no ConnectionConfig (it is older than 5.0)")
    path = write_key(rsa_key, tmp_path / "rsa_key.p8", None)
    for config in (warehouse(), key_pair(path, None)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            parsed = config_class.from_kwargs(**connect_arguments(config))
        assert parsed._extra == {}
        assert (parsed.account, parsed.user, parsed.schema) == ("myorg-shop", "SYNCD", "CRM")
        assert parsed.session_parameters == SESSION
    assert parsed.private_key == der(rsa_key)


# -- streaming ----------------------------------------------------------------------------------


def test_batches_pass_through_in_order() -> None:
    chunked = pa.concat_tables([people("bob@example.com"), people("carol@example.com")])
    cursor = FakeCursor([people(EMAIL), chunked])
    connect = Connect(cursor)
    source = SnowflakeSource(warehouse(), connect)
    batches = list(source.read(SQL))
    source.close()
    assert [b.column("EMAIL").to_pylist() for b in batches] == [
        [EMAIL],
        ["bob@example.com"],
        ["carol@example.com"],
    ]
    assert all(isinstance(b, pa.RecordBatch) for b in batches)
    assert cursor.executed == [SQL]
    assert cursor.closed


def test_an_empty_result_still_names_its_columns() -> None:
    cursor = FakeCursor([], description=(("EMAIL", 2), ("PHONE", 2)))
    (only,) = list(SnowflakeSource(warehouse(), Connect(cursor)).read(SQL))
    assert (only.num_rows, only.schema.names) == (0, ["EMAIL", "PHONE"])

    typed = pa.schema([("ID", pa.int64())])
    cursor = FakeCursor([typed.empty_table()], description=(("ID", 0),))
    (only,) = list(SnowflakeSource(warehouse(), Connect(cursor)).read(SQL))
    assert (only.num_rows, only.schema) == (0, typed)


def test_a_read_sets_its_timeout_on_the_session_when_it_differs() -> None:
    cursor = FakeCursor([people(EMAIL)])
    source = SnowflakeSource(warehouse(), Connect(cursor))
    list(source.read(SQL, timeout_seconds=30))
    list(source.read(SQL, timeout_seconds=30))
    list(source.read(SQL))
    assert cursor.executed == [
        "ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = 30",
        SQL,
        SQL,
        "ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = 900",
        SQL,
    ]


def test_interrupt_cancels_the_sessions_queries() -> None:
    cursor = FakeCursor()
    SnowflakeSource(warehouse(), Connect(cursor)).interrupt()
    assert cursor.executed == ["SELECT SYSTEM$CANCEL_ALL_QUERIES(%s)"]
    assert cursor.params == [(8120,)]
    assert cursor.closed


def test_stopping_early_closes_the_cursor() -> None:
    cursor = FakeCursor([people(EMAIL), people("bob@example.com")])
    source = SnowflakeSource(warehouse(), Connect(cursor))
    next(source.read(SQL))
    source.close()
    assert cursor.closed


# -- errors -------------------------------------------------------------------------------------


def sql_error(kind: type[errors.Error], errno: int, sqlstate: str, msg: str) -> errors.Error:
    return kind(msg=msg, errno=errno, sqlstate=sqlstate, sfqid="01b4-0000-abcd")


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        (
            sql_error(
                errors.ProgrammingError,
                2003,
                "42S02",
                "SQL compilation error:\nObject 'SHOP.CRM.PEOPLE' does not exist or not "
                "authorized.",
            ),
            "GRANT USAGE ON its database and schema and SELECT ON it TO ROLE SYNCD_READER",
        ),
        (
            sql_error(
                errors.ProgrammingError,
                904,
                "42000",
                "SQL compilation error: error line 1 at position 7\ninvalid identifier 'EMIAL'",
            ),
            "it names a column that does not exist",
        ),
        (
            sql_error(
                errors.ProgrammingError,
                1003,
                "42000",
                f"SQL compilation error:\nsyntax error line 1 at position 40 unexpected '{EMAIL}'.",
            ),
            "fix the segment SQL: it has a syntax error",
        ),
        (
            sql_error(
                errors.ProgrammingError,
                100038,
                "22018",
                f"Numeric value '{EMAIL}' is not recognized",
            ),
            "values are not shown",
        ),
        (
            sql_error(
                errors.ProgrammingError,
                606,
                "57P03",
                "No active warehouse selected in the current session.",
            ),
            "GRANT USAGE ON WAREHOUSE SYNCD_WH TO ROLE SYNCD_READER",
        ),
        (
            sql_error(
                errors.OperationalError,
                630,
                "57014",
                "Statement reached its statement or warehouse timeout of 900 second(s) and "
                "was canceled.",
            ),
            "longer than its statement timeout (900s: segments.NAME.timeout_seconds",
        ),
        (
            sql_error(errors.DatabaseError, 999999, "XX000", "Something unexpected"),
            "Snowflake could not run the query; the next sync tries again",
        ),
    ],
    ids=["missing-object", "column", "syntax", "value", "no-warehouse", "timeout", "other"],
)
def test_query_errors_say_their_fix_without_values(error: errors.Error, fix: str) -> None:
    source = SnowflakeSource(warehouse(), Connect(FakeCursor(error=error)))
    with pytest.raises(SourceError) as caught:
        list(source.read(SQL))
    message = str(caught.value)
    assert message.startswith("the query failed: ")
    assert fix in message
    assert "01b4-0000-abcd" in message  # the query id, to find it in QUERY_HISTORY
    assert EMAIL not in message


def test_an_error_while_fetching_is_mapped_too() -> None:
    error = sql_error(errors.OperationalError, 0, "08001", "chunk download failed")
    cursor = FakeCursor([people(EMAIL), error])
    reader = SnowflakeSource(warehouse(), Connect(cursor)).read(SQL)
    next(reader)
    with pytest.raises(SourceError, match="the connection to Snowflake failed"):
        next(reader)
    assert cursor.closed


def test_a_statement_without_arrow_result_is_refused() -> None:
    error = errors.NotSupportedError(msg="Not supported for non-arrow result format", errno=0)
    source = SnowflakeSource(warehouse(), Connect(FakeCursor(error=error)))
    with pytest.raises(SourceError, match="the segment SQL must be one SELECT query"):
        list(source.read(SQL))


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        (
            sql_error(
                errors.DatabaseError,
                390100,
                "08004",
                # Whatever a server or proxy echoes back, the password must not pass on.
                f"Incorrect username or password was specified (password {PASSWORD}).",
            ),
            "Snowflake refused the login of user SYNCD: check warehouse.user and the password",
        ),
        (
            sql_error(errors.DatabaseError, 390144, "08004", "JWT token is invalid."),
            "ALTER USER SYNCD SET RSA_PUBLIC_KEY",
        ),
        (
            sql_error(
                errors.DatabaseError,
                390189,
                "08004",
                "Role 'SYNCD_READER' specified in the connect string does not exist or not "
                "authorized.",
            ),
            "GRANT ROLE SYNCD_READER TO USER SYNCD",
        ),
        (
            sql_error(
                errors.OperationalError,
                250001,
                "08001",
                "Could not connect to Snowflake backend after 2 attempt(s).Aborting",
            ),
            "cannot reach Snowflake account myorg-shop",
        ),
        (
            errors.OperationalError(msg="HTTP 503: b'Service Unavailable'"),
            "check warehouse.account and the network",
        ),
        (
            errors.InterfaceError(msg="Invalid connection parameter"),
            "the connector refused the settings",
        ),
    ],
    ids=["password", "key-pair", "role", "unreachable", "http", "interface"],
)
def test_login_errors_say_their_fix_without_secrets(error: errors.Error, fix: str) -> None:
    with pytest.raises(SourceError) as caught:
        SnowflakeSource(warehouse(), Connect(error=error))
    message = str(caught.value)
    assert message.startswith("cannot log in to Snowflake: ")
    assert fix in message
    assert PASSWORD not in message


def test_importing_syncd_sources_does_not_import_the_connector() -> None:
    code = (
        "import sys, syncd.sources, syncd.sources.snowflake_config\n"
        "assert not [m for m in sys.modules if m.startswith('snowflake')]"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


# -- once wired into syncd.config (skipped until then) -----------------------------------------


def _wired() -> bool:
    from syncd.config import models

    return SnowflakeWarehouse in typing.get_args(typing.get_args(models.Warehouse)[0])


wired = pytest.mark.skipif(
    not _wired(), reason="SnowflakeWarehouse is not in syncd.config.models.Warehouse yet"
)


def write_config(folder: Path, warehouse_block: dict[str, Any]) -> Path:
    path = folder / "syncd.yaml"
    data = {
        "warehouse": warehouse_block,
        "segments": {
            "people": {"sql": "select email from people", "identifiers": {"email": "EMAIL"}}
        },
        "destinations": {
            "meta": {"kind": "meta", "ad_account_id": "act_1000", "access_token": "${META_TOKEN}"}
        },
        "audiences": [{"segment": "people", "destination": "meta", "audience_id": "2385000001"}],
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@wired
def test_validate_names_the_problem_without_the_password(tmp_path: Path) -> None:
    from syncd.config import ConfigError, load_config

    block = {k: v for k, v in BASE.items() if k != "schema"} | {"password": "${SF_PASSWORD}"}
    path = write_config(tmp_path, block)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={"SF_PASSWORD": PASSWORD, "META_TOKEN": TOKEN})
    text = str(caught.value)
    assert "warehouse" in text
    assert "authenticator snowflake_jwt needs private_key_file" in text
    assert PASSWORD not in text


@wired
def test_the_key_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    from syncd.config import load_config

    block = BASE | {"private_key_file": "keys/rsa_key.p8"}
    config = load_config(write_config(tmp_path, block), environ={"META_TOKEN": TOKEN})
    assert config.warehouse.private_key_file == tmp_path / "keys" / "rsa_key.p8"
