"""The few functions every warehouse spells its own way, and rendering a tree for one of them.

The pushdown SQL is one sqlglot tree. sqlglot translates most of it between dialects (CAST to
text, TRIM with characters, regex matching, SUBSTRING...), but not hashing to hex, whose
spellings differ in kind, not in name. Those are marker nodes in the tree, spelled here per
dialect when the tree is rendered.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import ClassVar

from sqlglot import exp


class Dialect(StrEnum):
    """Warehouses the pushdown SQL is generated for (sqlglot's dialect names)."""

    DUCKDB = "duckdb"
    POSTGRES = "postgres"
    BIGQUERY = "bigquery"
    SNOWFLAKE = "snowflake"


class Sha256Hex(exp.Expression, exp.Func):
    """Lowercase hex SHA-256 of a string's UTF-8 bytes: syncd.identity.sha256_hex in SQL."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True}


class Md5Uuid(exp.Expression, exp.Func):
    """The MD5 of a string's UTF-8 bytes as UUID text: syncd.identity.md5_uuid in SQL."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True}


class ByteLength(exp.Expression, exp.Func):
    """The length of a string in UTF-8 bytes (equal to its length in characters iff ASCII)."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True}


class RegexpSearch(exp.Expression, exp.Func):
    """Whether a regular expression matches somewhere in a string (Snowflake's REGEXP_LIKE
    must match the whole string, the others' search). Patterns stay within what RE2,
    PostgreSQL's and Snowflake's engines read alike: classes, ranges, counts, anchors."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "expression": True}


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


_SHA256_HEX: dict[Dialect, Callable[[exp.Expression], exp.Expression]] = {
    Dialect.DUCKDB: lambda value: _call("SHA256", value),
    Dialect.POSTGRES: lambda value: _call(
        "ENCODE",
        _call("SHA256", _call("CONVERT_TO", value, exp.Literal.string("UTF8"))),
        exp.Literal.string("hex"),
    ),
    Dialect.BIGQUERY: lambda value: _call("TO_HEX", _call("SHA256", value)),
    Dialect.SNOWFLAKE: lambda value: _call("SHA2", value, exp.Literal.number(256)),
}


def _dashed(hex_digits: exp.Expression) -> exp.Expression:
    """32 hex digits in UUID form, for warehouses without a UUID type to cast to."""
    return _call(
        "REGEXP_REPLACE",
        hex_digits,
        exp.Literal.string("^(.{8})(.{4})(.{4})(.{4})(.{12})$"),
        exp.Literal.string("\\1-\\2-\\3-\\4-\\5"),
    )


def _uuid_text(md5_hex: exp.Expression) -> exp.Expression:
    return exp.cast(exp.cast(md5_hex, exp.DataType.Type.UUID), exp.DataType.Type.VARCHAR)


_MD5_UUID: dict[Dialect, Callable[[exp.Expression], exp.Expression]] = {
    Dialect.DUCKDB: lambda value: _uuid_text(_call("MD5", value)),
    Dialect.POSTGRES: lambda value: _uuid_text(
        _call("MD5", _call("CONVERT_TO", value, exp.Literal.string("UTF8")))
    ),
    Dialect.BIGQUERY: lambda value: _dashed(_call("TO_HEX", _call("MD5", value))),
    Dialect.SNOWFLAKE: lambda value: _dashed(_call("MD5", value)),
}

_BYTE_LENGTH: dict[Dialect, str] = {
    Dialect.DUCKDB: "STRLEN",
    Dialect.POSTGRES: "OCTET_LENGTH",
    Dialect.BIGQUERY: "BYTE_LENGTH",
    Dialect.SNOWFLAKE: "OCTET_LENGTH",
}


#: Dialects whose planner inlines a CTE's expressions into every place that names its
#: columns, without common subexpression elimination: PostgreSQL pulls subqueries up, so a
#: normalized email named seven times downstream was computed seven times (37 s instead of
#: 3.8 s for 200,000 non-ASCII emails). `OFFSET 0` keeps a subquery whole (and streamed, unlike
#: MATERIALIZED). DuckDB computes each once either way. BigQuery and Snowflake are not
#: measured here (BigQuery takes no OFFSET without LIMIT).
FENCED_WITH_OFFSET = frozenset({Dialect.POSTGRES})


def fenced(query: exp.Select, dialect: Dialect) -> exp.Select:
    """`query` computed once per row by `dialect`, however often its columns are named."""
    return query.offset(0) if dialect in FENCED_WITH_OFFSET else query


def render(tree: exp.Expression, dialect: Dialect) -> str:
    """The tree as SQL text of `dialect`, with the marker functions spelled for it."""

    def spell(node: exp.Expression) -> exp.Expression:
        if isinstance(node, Sha256Hex):
            # transform() does not descend into a node it replaced: spell the argument first.
            return _SHA256_HEX[dialect](node.this.transform(spell))
        if isinstance(node, Md5Uuid):
            return _MD5_UUID[dialect](node.this.transform(spell))
        if isinstance(node, ByteLength):
            return _call(_BYTE_LENGTH[dialect], node.this.transform(spell))
        if isinstance(node, RegexpSearch):
            text, pattern = node.this.transform(spell), node.expression.transform(spell)
            if dialect is Dialect.SNOWFLAKE:
                found = _call("REGEXP_INSTR", text, pattern)
                return exp.GT(this=found, expression=exp.Literal.number(0))
            return exp.RegexpLike(this=text, expression=pattern)
        return node

    return tree.transform(spell).sql(dialect=dialect.value)
