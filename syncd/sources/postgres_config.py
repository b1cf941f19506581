"""The `warehouse:` block for PostgreSQL. It lives beside its source, and imports neither
psycopg nor syncd.config, so syncd.config.models can import it without a cycle."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from syncd.sources.settings import WarehouseSettings


class PostgresWarehouse(WarehouseSettings):
    kind: Literal["postgres"] = Field(
        description="PostgreSQL, read through psycopg in READ ONLY transactions."
    )
    dsn: SecretStr = Field(
        min_length=1,
        description="A libpq URI (postgresql://user:password@host:5432/dbname?sslmode=require) "
        "or key=value string. It holds the password, so it is a secret: write ${SYNCD_PG_DSN} "
        "or ${file:/path/to/dsn}, never the value itself. The user needs SELECT on the tables "
        "the segments read, and nothing more.",
    )
    schema_name: str | None = Field(
        default=None,
        alias="schema",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="The schema for syncd's own tables in this database (state and spend); "
        "unused until those move here. Segment SQL names its own tables.",
    )
    pushdown: bool = Field(
        default=False,
        description="Normalize, hash and diff each segment as SQL inside PostgreSQL, so only "
        "the changes leave the database. Needs the state in this same database (state: "
        "{kind: postgres, dsn: the same dsn}): the diff joins the segment with the state's "
        "members table in one query. A segment SQL cannot handle exactly (names, zips, phones "
        "without segments.NAME.trust_e164_phones, rows it cannot decide) is read locally, "
        "and the run says why.",
    )
