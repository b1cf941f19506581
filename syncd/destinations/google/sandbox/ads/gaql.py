"""Just enough of the Google Ads Query Language to answer what syncd sends.

``SELECT f1, f2 FROM resource [WHERE c1 AND c2 ...] [ORDER BY f [ASC|DESC], ...] [LIMIT n]
[PARAMETERS ...]`` with conditions ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``IN (...)``,
``NOT IN (...)``, ``LIKE``, ``NOT LIKE``, ``BETWEEN a AND b``, ``DURING LAST_7_DAYS`` (and a few
other date ranges), ``IS NULL``, ``IS NOT NULL``. GAQL has no ``OR``. Syntax errors carry the
real ``QueryError`` enum names, so a client sees the same error kinds it would see from Google.

This module knows nothing about resources or fields; the search module checks field names
against its catalogue and coerces literals to each field's kind with ``coerce``.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "Condition",
    "GaqlError",
    "Ordering",
    "Query",
    "Scalar",
    "coerce",
    "has_finite_range",
    "matches",
    "parse",
]

Scalar = int | float | str | bool

_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<string>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    | (?P<symbol>!=|>=|<=|=|<|>|\(|\)|,)
    """,
    re.VERBOSE,
)
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class GaqlError(Exception):
    """A query the API rejects; ``code`` is a ``QueryError`` enum name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Condition:
    """``field operator values``; ``values`` holds one literal, or two for BETWEEN, or a list."""

    field: str
    operator: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class Ordering:
    field: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    fields: tuple[str, ...]
    resource: str
    conditions: tuple[Condition, ...] = ()
    order_by: tuple[Ordering, ...] = ()
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "string", "number", "name", "symbol"
    text: str

    def keyword(self) -> str:
        return self.text.upper() if self.kind == "name" else ""


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            if text[position] in "'\"":
                raise GaqlError("STRING_NOT_TERMINATED", "A string in the query is not terminated.")
            raise GaqlError("BAD_SYMBOL", f"Unexpected symbol at position {position}.")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group()))
        position = match.end()
    return tokens


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.position = 0

    def peek(self, ahead: int = 0) -> _Token | None:
        index = self.position + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise GaqlError("UNEXPECTED_END_OF_QUERY", "The query ended unexpectedly.")
        self.position += 1
        return token

    def accept(self, *words: str) -> bool:
        """Consume the keywords ``words`` if they come next."""
        for offset, word in enumerate(words):
            token = self.peek(offset)
            if token is None or token.keyword() != word:
                return False
        self.position += len(words)
        return True

    def accept_symbol(self, symbol: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "symbol" and token.text == symbol:
            self.position += 1
            return True
        return False

    def field(self, code: str = "BAD_FIELD_NAME") -> str:
        token = self.take()
        if token.kind != "name":
            raise GaqlError(code, f"Expected a field name, got {token.text[:40]!r}.")
        return token.text

    def value(self) -> Scalar:
        token = self.take()
        if token.kind == "string":
            return _unquote(token.text)
        if token.kind == "number":
            return float(token.text) if "." in token.text else int(token.text)
        if token.kind == "name" and "." not in token.text:
            upper = token.text.upper()
            return {"TRUE": True, "FALSE": False}.get(upper, token.text)
        raise GaqlError("BAD_VALUE", f"Expected a value, got {token.text[:40]!r}.")

    def values_list(self) -> tuple[Scalar, ...]:
        if not self.accept_symbol("("):
            raise GaqlError("EXPECTED_LIST", "Expected a parenthesized list of values.")
        if self.accept_symbol(")"):
            raise GaqlError("PROHIBITED_EMPTY_LIST_IN_CONDITION", "Empty lists are not allowed.")
        values = [self.value()]
        while self.accept_symbol(","):
            values.append(self.value())
        if not self.accept_symbol(")"):
            raise GaqlError("EXPECTED_LIST", "Expected ')' to close the list of values.")
        return tuple(values)

    def condition(self) -> Condition:
        field = self.field()
        token = self.take()
        if token.kind == "symbol" and token.text in _COMPARISONS:
            return Condition(field, token.text, (self.value(),))
        word = token.keyword()
        if word == "NOT":
            word = "NOT " + self.take().keyword()
        if word in ("IN", "NOT IN"):
            return Condition(field, word, self.values_list())
        if word in ("LIKE", "NOT LIKE"):
            return Condition(field, word, (self.value(),))
        if word == "BETWEEN":
            low = self.value()
            if not self.accept("AND"):
                raise GaqlError("EXPECTED_AND", "BETWEEN takes two values joined by AND.")
            return Condition(field, word, (low, self.value()))
        if word == "DURING":
            return Condition(field, word, (self.value(),))
        if word == "IS":
            null = "IS NOT NULL" if self.accept("NOT") else "IS NULL"
            if not self.accept("NULL"):
                raise GaqlError("BAD_OPERATOR", "IS must be followed by NULL or NOT NULL.")
            return Condition(field, null, ())
        raise GaqlError("BAD_OPERATOR", f"Unsupported operator {token.text[:20]!r}.")

    def query(self) -> Query:
        if not self.accept("SELECT"):
            raise GaqlError("EXPECTED_SELECT", "The query must start with SELECT.")
        fields = [self.field()]
        while self.accept_symbol(","):
            fields.append(self.field())
        if not self.accept("FROM"):
            raise GaqlError("EXPECTED_FROM", "Expected FROM after the selected fields.")
        resource = self.field("BAD_RESOURCE_TYPE_IN_FROM_CLAUSE")
        conditions: list[Condition] = []
        if self.accept("WHERE"):
            conditions.append(self.condition())
            while self.accept("AND"):
                conditions.append(self.condition())
        order_by: list[Ordering] = []
        if self.accept("ORDER"):
            if not self.accept("BY"):
                raise GaqlError("EXPECTED_BY", "Expected BY after ORDER.")
            while True:
                field = self.field()
                descending = self.accept("DESC")
                if not descending:
                    self.accept("ASC")
                order_by.append(Ordering(field, descending))
                if not self.accept_symbol(","):
                    break
        limit: int | None = None
        if self.accept("LIMIT"):
            token = self.take()
            if token.kind != "number" or "." in token.text:
                raise GaqlError("BAD_LIMIT_VALUE", "LIMIT takes a whole number.")
            limit = int(token.text)
            if limit < 1:
                raise GaqlError("LIMIT_VALUE_TOO_LOW", "LIMIT must be at least 1.")
        if self.accept("PARAMETERS"):
            self.position = len(self.tokens)  # e.g. include_drafts=true: nothing to emulate
        if self.peek() is not None:
            raise GaqlError("UNEXPECTED_INPUT", "Unexpected input after the end of the query.")
        return Query(tuple(fields), resource, tuple(conditions), tuple(order_by), limit)


def parse(text: str) -> Query:
    """Parse a GAQL query; raises ``GaqlError`` with a ``QueryError`` name."""
    return _Parser(text).query()


def _during(name: str, today: dt.date) -> tuple[str, str]:
    day = dt.timedelta(days=1)
    first_of_month = today.replace(day=1)
    ranges = {
        "TODAY": (today, today),
        "YESTERDAY": (today - day, today - day),
        "LAST_7_DAYS": (today - 7 * day, today - day),
        "LAST_14_DAYS": (today - 14 * day, today - day),
        "LAST_30_DAYS": (today - 30 * day, today - day),
        "THIS_MONTH": (first_of_month, today),
        "LAST_MONTH": ((first_of_month - day).replace(day=1), first_of_month - day),
    }
    if name not in ranges:
        raise GaqlError("INVALID_VALUE_WITH_DURING_OPERATOR", "Unsupported date range for DURING.")
    start, end = ranges[name]
    return start.isoformat(), end.isoformat()


def _literal(value: Scalar, kind: str, field: str) -> Scalar:
    """Convert one literal to the field's kind (``int``, ``float``, ``date``, ``str``, ...)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "date":
        if isinstance(value, str) and _DATE.fullmatch(value):
            try:
                return dt.date.fromisoformat(value).isoformat()
            except ValueError:
                pass
        raise GaqlError("INVALID_DATE_FORMAT", f"Dates in {field} filters are 'YYYY-MM-DD'.")
    if kind == "int" and (number or isinstance(value, str)):
        try:
            return int(value)
        except ValueError:
            pass
    accepted = {
        "float": number,
        "str": isinstance(value, str),
        "enum": isinstance(value, str),
        "bool": isinstance(value, bool),
    }
    if accepted.get(kind, False):
        return float(value) if kind == "float" else value
    raise GaqlError("BAD_VALUE", f"Invalid value for field {field}.")


def coerce(condition: Condition, kind: str, today: dt.date) -> Condition:
    """Check a condition against its field's kind and convert its literals to that kind.

    DURING becomes BETWEEN on ISO dates, which compare correctly as strings.
    """
    op, field = condition.operator, condition.field
    if op == "DURING":
        if kind != "date" or not isinstance(condition.values[0], str):
            raise GaqlError("OPERATOR_FIELD_MISMATCH", f"DURING does not apply to {field}.")
        return Condition(field, "BETWEEN", _during(condition.values[0].upper(), today))
    if op in ("LIKE", "NOT LIKE") and kind != "str":
        raise GaqlError("OPERATOR_FIELD_MISMATCH", f"LIKE does not apply to {field}.")
    values = tuple(_literal(value, kind, field) for value in condition.values)
    return replace(condition, values=values)


def _like(pattern: str, value: str) -> bool:
    regex = "".join(".*" if char == "%" else re.escape(char) for char in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def matches(condition: Condition, value: object) -> bool:
    """Whether a row's value satisfies a (coerced) condition; a missing value never does."""
    op, values = condition.operator, condition.values
    if op in ("IS NULL", "IS NOT NULL"):
        return (value is None) == (op == "IS NULL")
    if value is None:
        return False
    if op in _COMPARISONS:
        try:
            return bool(_COMPARISONS[op](value, values[0]))
        except TypeError:  # e.g. a number compared with a string: no match, as in SQL
            return False
    if op == "IN":
        return value in values
    if op == "NOT IN":
        return value not in values
    if op == "BETWEEN":
        return bool(values[0] <= value <= values[1])  # type: ignore[operator]
    if op in ("LIKE", "NOT LIKE"):
        found = isinstance(value, str) and _like(str(values[0]), value)
        return found == (op == "LIKE")
    raise GaqlError("BAD_OPERATOR", f"Unsupported operator {op}.")


def has_finite_range(conditions: Sequence[Condition], field: str) -> bool:
    """Whether the conditions bound ``field`` on both sides (needed to select segments.date)."""
    operators = {c.operator for c in conditions if c.field == field}
    if operators & {"=", "IN", "BETWEEN", "DURING"}:
        return True
    return bool(operators & {">", ">="}) and bool(operators & {"<", "<="})
