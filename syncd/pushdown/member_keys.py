"""`syncd.members.member_key` as SQL of any dialect, on its own so that the warehouse queries
and the state's key migration share it without the state importing the queries, which read
the state's statuses."""

from __future__ import annotations

from sqlglot import exp

from syncd.members import IDENTIFIER_COLUMNS, KEY_SEPARATOR
from syncd.pushdown.dialects import Dialect, Md5Uuid, render
from syncd.pushdown.kinds import string


def member_key_text(dialect: Dialect) -> str:
    """`syncd.members.member_key` (UUID text) of a row of identifier columns, as SQL of
    `dialect`."""
    return render(member_key_expression(), dialect)


def member_key_expression() -> exp.Expression:
    """syncd.members.member_key: MD5 (as a UUID) of the sent values, NULL as "", joined by
    \\x1f."""
    parts = [
        exp.Coalesce(this=exp.column(name), expressions=[string("")]) for name in IDENTIFIER_COLUMNS
    ]
    joined: exp.Expression = parts[0]
    for part in parts[1:]:
        joined = exp.DPipe(
            this=exp.DPipe(this=joined, expression=string(KEY_SEPARATOR), safe=True),
            expression=part,
            safe=True,
        )
    return Md5Uuid(this=joined)
