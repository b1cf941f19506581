"""Emails, vectorized: the rules of `rules._email_google` / `rules._email_meta` as Arrow kernels.

On ASCII rows (see `vector`) each step is the same function as in the reference:
- Python's split()/strip() whitespace is `vector.ASCII_WHITESPACE`, given to Arrow explicitly;
- str.lower() on ASCII is ascii_lower;
- `rules._EMAIL` is `^[^\\s@]+@[^\\s@.]+(\\.[^\\s@.]+)+$` in Python's `re`, where \\s is Unicode
  whitespace; the RE2 pattern below spells out the ASCII part of it, which is all an ASCII
  row can hold. (`$` also matches before a final newline in Python, but no newline survives
  stripping.)
- the gmail rule's rsplit("@", 1) splits at the only "@" a valid address has.

Chosen by measurement (benchmarks/identity.py, 2 cores): a regex replace on every row costs
more than all the rest, so Google's whitespace removal runs only on the rows the pattern
refuses; Meta's needs no regex but the pattern. Deduplicating first does not pay for emails:
Arrow's unique() runs at about 7 M/s, as slow as hashing, and segments rarely repeat emails.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from syncd.identity.rules import Network
from syncd.identity.vector import (
    ASCII_WHITESPACE,
    EMPTY_STRING,
    FALSE,
    NULL_STRING,
    WHITESPACE_CLASS,
    FastColumn,
    reasons_where,
    split_text,
    trues,
)

_PART = f"[^{WHITESPACE_CLASS}@.]+"
EMAIL_PATTERN = f"^[^{WHITESPACE_CLASS}@]+@{_PART}(?:\\.{_PART})+$"
_WHITESPACE_RUN = f"[{WHITESPACE_CLASS}]+"
_GMAIL_DOMAINS = ("gmail.com", "googlemail.com")


def normalize_emails(network: Network, text: pa.Array, countries: pa.Array | None) -> FastColumn:
    """Normalized (unhashed) emails for the ASCII rows; the others are marked fallback."""
    rows = split_text(text)
    if network is Network.GOOGLE:
        emails, valid = _without_whitespace(pc.ascii_lower(text), rows.ascii)
    else:
        emails = pc.ascii_lower(pc.ascii_trim(text, ASCII_WHITESPACE))
        valid = _matches(emails, rows.ascii)
    present = pc.and_(rows.ascii, pc.fill_null(pc.not_equal(emails, EMPTY_STRING), FALSE))
    if network is Network.GOOGLE:
        emails = _gmail_without_dots(emails, valid)
    return FastColumn(
        values=pc.if_else(valid, emails, NULL_STRING),
        reasons=reasons_where(
            [(rows.too_long, "too_long"), (pc.and_not(present, valid), "invalid_email")],
            len(text),
        ),
        fallback=rows.fallback,
    )


def _matches(emails: pa.Array, rows: pa.Array) -> pa.Array:
    return pc.and_(rows, pc.fill_null(pc.match_substring_regex(emails, EMAIL_PATTERN), FALSE))


def _without_whitespace(emails: pa.Array, rows: pa.Array) -> tuple[pa.Array, pa.Array]:
    """ "".join(value.split()), and which rows are then valid. The pattern refuses any
    whitespace, so only the rows it refuses can hold some: they are trimmed and checked
    again, and the few still refused pay the regex that removes inner whitespace."""
    valid = _matches(emails, rows)
    again = pc.and_not(rows, valid)
    if not pc.any(again).as_py():
        return emails, valid
    retried = pc.ascii_trim(pc.filter(emails, again), ASCII_WHITESPACE)
    retried_valid = _matches(retried, trues(len(retried)))
    inner = pc.invert(retried_valid)
    if pc.any(inner).as_py():
        joined = pc.replace_substring_regex(pc.filter(retried, inner), _WHITESPACE_RUN, "")
        retried = pc.replace_with_mask(retried, inner, joined)
        retried_valid = pc.replace_with_mask(
            retried_valid, inner, _matches(joined, trues(len(joined)))
        )
    emails = pc.replace_with_mask(emails, again, retried)
    return emails, pc.replace_with_mask(valid, again, retried_valid)


def _gmail_without_dots(emails: pa.Array, valid: pa.Array) -> pa.Array:
    """Google drops the dots of the local part of gmail.com and googlemail.com addresses.
    A valid address has one "@", so with every dot gone "@gmailcom" is its domain, once."""
    gmail = pc.and_(valid, pc.or_(*(pc.ends_with(emails, "@" + d) for d in _GMAIL_DOMAINS)))
    gmail = pc.fill_null(gmail, FALSE)
    if not pc.any(gmail).as_py():
        return emails
    undotted = pc.replace_substring(pc.filter(emails, gmail), ".", "")
    for domain in _GMAIL_DOMAINS:
        undotted = pc.replace_substring(undotted, "@" + domain.replace(".", ""), "@" + domain)
    return pc.replace_with_mask(emails, gmail, undotted)
