"""Emails, vectorized: `rules._email`, for any dialect, as Arrow kernels.

On ASCII rows (see `vector`) each step is the same function as in the reference:
- Python's split()/strip() whitespace is `vector.ASCII_WHITESPACE`, given to Arrow explicitly;
- str.lower() on ASCII is ascii_lower;
- `rules._EMAIL` is `^[^\\s@]+@[^\\s@.]+(\\.[^\\s@.]+)+$` in Python's `re`, where \\s is Unicode
  whitespace; the RE2 pattern below spells out the ASCII part of it, which is all an ASCII
  row can hold. (`$` also matches before a final newline in Python, but no newline survives
  stripping.)
- the gmail rules' rsplit("@", 1) splits at the only "@" a valid address has, and the
  tag's split("+", 1)[0] is the regex replace of the first "+" up to that "@";
- `rules.CONTROL_CHARACTERS` on ASCII are the class `_CONTROLS`: the pattern refuses them, and
  only the refused rows are searched for them, to tell control_character from invalid_email.

Chosen by measurement (benchmarks/identity.py, 2 cores): a regex replace on every row costs
more than all the rest, so every dialect trims and lowers every row and matches the pattern
once, and the removal of inner whitespace (Google's) runs only on the rows the pattern refused.
Deduplicating first does not pay for emails: Arrow's unique() runs at about 7 M/s, as slow
as hashing, and segments rarely repeat emails.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from syncd.identity.dialects import Dialect
from syncd.identity.rules import CONTROL_CHARACTERS
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

_CONTROLS = "".join(f"\\x{ord(ch):02x}" for ch in CONTROL_CHARACTERS if ch.isascii())
_PART = f"[^{WHITESPACE_CLASS}{_CONTROLS}@.]+"
EMAIL_PATTERN = f"^[^{WHITESPACE_CLASS}{_CONTROLS}@]+@{_PART}(?:\\.{_PART})+$"
_WHITESPACE_RUN = f"[{WHITESPACE_CLASS}]+"
_GMAIL_TLD = ".com"
_GMAIL_DOMAINS = tuple(name + _GMAIL_TLD for name in ("gmail", "googlemail"))


def normalize_emails(dialect: Dialect, text: pa.Array, countries: pa.Array | None) -> FastColumn:
    """Normalized (unhashed) emails for the ASCII rows; the others are marked fallback."""
    rows = split_text(text)
    emails = pc.ascii_lower(pc.ascii_trim(text, ASCII_WHITESPACE))
    valid = _matches(emails, rows.ascii)
    # "".join(value.split()) is empty exactly when value.strip() is.
    present = pc.and_(rows.ascii, pc.fill_null(pc.not_equal(emails, EMPTY_STRING), FALSE))
    if dialect.email_inner_whitespace_removed:
        emails, valid = _without_inner_whitespace(emails, valid, rows.ascii)
    if dialect.gmail_plus_tag_removed or dialect.gmail_dots_removed:
        emails, valid = _gmail_normalized(dialect, emails, valid)
    refused = pc.and_not(present, valid)
    return FastColumn(
        values=pc.if_else(valid, emails, NULL_STRING),
        reasons=reasons_where(
            [
                (rows.too_long, "too_long"),
                (_with_controls(emails, refused), "control_character"),
                (refused, "invalid_email"),
            ],
            len(text),
        ),
        fallback=rows.fallback,
    )


def _with_controls(emails: pa.Array, refused: pa.Array) -> pa.Array:
    """The refused rows that hold a control character (the pattern refuses every such row,
    so no other row needs the search)."""
    if not pc.any(refused).as_py():
        return refused
    found = pc.match_substring_regex(pc.filter(emails, refused), f"[{_CONTROLS}]")
    return pc.replace_with_mask(refused, refused, found)


def _matches(emails: pa.Array, rows: pa.Array) -> pa.Array:
    return pc.and_(rows, pc.fill_null(pc.match_substring_regex(emails, EMAIL_PATTERN), FALSE))


def _without_inner_whitespace(
    emails: pa.Array, valid: pa.Array, rows: pa.Array
) -> tuple[pa.Array, pa.Array]:
    """ "".join(value.split()) of trimmed `emails`, and which rows are then valid.
    The pattern refuses any whitespace, so only the rows it refused can hold some: they
    alone pay the regex that removes it, and are checked again."""
    again = pc.and_not(rows, valid)
    if not pc.any(again).as_py():
        return emails, valid
    joined = pc.replace_substring_regex(pc.filter(emails, again), _WHITESPACE_RUN, "")
    emails = pc.replace_with_mask(emails, again, joined)
    return emails, pc.replace_with_mask(valid, again, _matches(joined, trues(len(joined))))


def _gmail_normalized(
    dialect: Dialect, emails: pa.Array, valid: pa.Array
) -> tuple[pa.Array, pa.Array]:
    """The local part of valid gmail.com and googlemail.com addresses loses the "+" and
    what follows it, then every dot, as `dialect` says; one left empty is refused."""
    gmail = pc.and_(valid, pc.or_(*(pc.ends_with(emails, "@" + d) for d in _GMAIL_DOMAINS)))
    gmail = pc.fill_null(gmail, FALSE)
    if not pc.any(gmail).as_py():
        return emails, valid
    addresses = pc.filter(emails, gmail)
    if dialect.gmail_plus_tag_removed:
        tagged = pc.match_substring(addresses, "+")
        if pc.any(tagged).as_py():  # the domain has no "+": the first one is in the local part
            cut = pc.replace_substring_regex(
                pc.filter(addresses, tagged), "\\+[^@]*", "", max_replacements=1
            )
            addresses = pc.replace_with_mask(addresses, tagged, cut)
    if dialect.gmail_dots_removed:
        # A valid address has one "@" and ends with one of those domains, so with every dot
        # gone it ends with "@gmailcom" or "@googlemailcom". Both end in _GMAIL_TLD: its dot
        # goes back before the TLD's letters.
        undotted = pc.replace_substring(addresses, ".", "")
        letters = len(_GMAIL_TLD) - 1
        addresses = pc.binary_replace_slice(
            undotted, start=-letters, stop=-letters, replacement="."
        )
    kept = pc.invert(pc.starts_with(addresses, "@"))
    return pc.replace_with_mask(emails, gmail, addresses), pc.replace_with_mask(valid, gmail, kept)
