"""The `warehouse:` block for Snowflake. Like postgres_config, it imports neither the
connector nor syncd.config, so syncd.config.models can import it without a cycle or an extra."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from syncd.sources.settings import WarehouseSettings

Authenticator = Literal["snowflake", "externalbrowser", "snowflake_jwt", "oauth"]

#: The credential fields each authenticator needs (first) and accepts (all of them).
NEEDED: dict[str, tuple[str, ...]] = {
    "snowflake": ("password",),
    "snowflake_jwt": ("private_key_file",),
    "oauth": ("token",),
    "externalbrowser": (),
}
ACCEPTED: dict[str, tuple[str, ...]] = {
    "snowflake": ("password",),
    "snowflake_jwt": ("private_key_file", "private_key_passphrase"),
    "oauth": ("token",),
    "externalbrowser": (),
}
CREDENTIALS = ("password", "private_key_file", "private_key_passphrase", "token")
_IDENTIFIER = r'^([A-Za-z_][A-Za-z0-9_$]*|"[^"]+")$'


class SnowflakeWarehouse(WarehouseSettings):
    # Inputs (secrets among them) stay out of error texts when validated on its own.
    model_config = ConfigDict(hide_input_in_errors=True)

    kind: Literal["snowflake"] = Field(
        description="Snowflake: each segment runs as one query, its result fetched as Arrow. "
        "Needs `pip install 'syncd[snowflake]'`."
    )
    account: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="The account identifier: orgname-accountname (preferred), or the legacy "
        "locator with its region, e.g. xy12345.eu-west-1; without .snowflakecomputing.com.",
    )
    user: str = Field(min_length=1, description="The Snowflake user syncd logs in as.")
    warehouse: str = Field(
        pattern=_IDENTIFIER,
        description="The virtual warehouse that runs the queries; it is what costs credits. "
        "The role needs USAGE on it.",
    )
    database: str | None = Field(
        default=None,
        pattern=_IDENTIFIER,
        description="Default database for unqualified table names in segment SQL.",
    )
    schema_name: str | None = Field(
        default=None,
        alias="schema",
        pattern=_IDENTIFIER,
        description="Default schema for unqualified table names in segment SQL.",
    )
    role: str | None = Field(
        default=None,
        pattern=_IDENTIFIER,
        description="The role the session uses; unset, the user's default role. Give it "
        "USAGE on the warehouse, database and schema and SELECT on the segment's tables, and "
        "nothing more: Snowflake has no read-only session, the role is what keeps a segment "
        "from writing.",
    )
    authenticator: Authenticator = Field(
        default="snowflake_jwt",
        description="How syncd logs in. snowflake_jwt (the default, key-pair: the convention "
        "for services) needs private_key_file; snowflake needs password (Snowflake is phasing "
        "out password-only sign-in); oauth needs token (an access token; syncd does not "
        "refresh it); externalbrowser opens a browser for single sign-on, for a person "
        "running `syncd plan` on a laptop, never for the daemon.",
    )
    password: SecretStr | None = Field(
        default=None,
        description="The user's password, for authenticator snowflake. A secret: write "
        "${SNOWFLAKE_PASSWORD} or ${file:/path}, never the value.",
    )
    private_key_file: Path | None = Field(
        default=None,
        description="A PEM private key (PKCS#8, encrypted or not) whose public key is set on "
        "the user (ALTER USER ... SET RSA_PUBLIC_KEY), for authenticator snowflake_jwt; "
        "relative to the config file's folder. Mount it as a secret file.",
    )
    private_key_passphrase: SecretStr | None = Field(
        default=None,
        description="The passphrase of an encrypted private_key_file. A secret: write "
        "${SNOWFLAKE_PRIVATE_KEY_PASSPHRASE} or ${file:/path}.",
    )
    token: SecretStr | None = Field(
        default=None,
        description="An OAuth access token, for authenticator oauth. A secret: write "
        "${SNOWFLAKE_TOKEN} or ${file:/path}.",
    )
    query_tag: str = Field(
        default="syncd",
        max_length=2000,
        description="QUERY_TAG of syncd's sessions, to find (and bill) its queries in "
        "QUERY_HISTORY.",
    )

    @field_validator("account")
    @classmethod
    def _identifier_not_url(cls, account: str) -> str:
        if account.lower().endswith(".snowflakecomputing.com"):
            raise ValueError("write the account identifier without .snowflakecomputing.com")
        return account

    @model_validator(mode="after")
    def _credentials_fit_the_authenticator(self) -> SnowflakeWarehouse:
        given = [name for name in CREDENTIALS if getattr(self, name) is not None]
        missing = [name for name in NEEDED[self.authenticator] if name not in given]
        extra = [name for name in given if name not in ACCEPTED[self.authenticator]]
        if missing:
            raise ValueError(
                f"authenticator {self.authenticator} needs {' and '.join(missing)}"
                + _others_hint(given)
            )
        if extra:
            raise ValueError(
                f"authenticator {self.authenticator} does not use {', '.join(extra)}: remove "
                "it, or set the authenticator that uses it" + _others_hint(given)
            )
        return self


def _others_hint(given: list[str]) -> str:
    """Which authenticator the given credentials point to (names only, never values)."""
    fits = [name for name, needed in NEEDED.items() if needed and set(needed) <= set(given)]
    return f" (the credentials given fit authenticator {fits[0]})" if len(fits) == 1 else ""
