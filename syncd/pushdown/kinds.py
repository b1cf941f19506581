"""The identifier rules of `syncd.identity.rules`, as SQL, for the kinds SQL can do exactly.

Each rule here must give, for every value, what the reference gives: the same value sent, or
no value. Where SQL cannot be sure (a capital sigma, a phone not in E.164), the row is marked
*undecidable* instead of guessed, and the caller runs the local path for that segment. Like
the reference, each rule reads the network's identity `Dialect`, never its name.

Pushed down:
- email: all whitespace removed or the ends trimmed, as the dialect says, and lowercased;
  control characters refused, then the reference's pattern checked
  ``^[^\\s@]+@[^\\s@.]+(\\.[^\\s@.]+)+$``; then, where the dialect says so, the "+" tag and the
  dots of the local part of gmail.com / googlemail.com addresses dropped (and one left
  empty refused).
- phone, only when the caller vouches the column holds E.164 numbers (``trust_e164_phones``):
  ``+`` and 7 to 15 digits pass through (with or without the "+", as the dialect says). SQL
  cannot check them against phonenumbers' metadata as the reference does, nor read national
  numbers.
- external_id (trim), madid (trim, lowercase, UUID pattern), country (trim, upper, one of the
  reference's ISO codes; lowercase where the dialect says).

Not pushed down (`is_pushdownable` says why): names and zip codes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, partial
from itertools import product

from sqlglot import exp

from syncd.identity import Dialect as IdentityDialect
from syncd.identity import IdentifierKind, InvalidIdentifier, normalize_country
from syncd.identity.rules import CONTROL_CHARACTERS
from syncd.pushdown import charsets
from syncd.pushdown.dialects import ByteLength, RegexpSearch

Builder = Callable[[exp.Expression], exp.Expression]

#: `rules.CONTROL_CHARACTERS` as a regex class body of escapes (RE2 and PostgreSQL read
#: ``\xhh`` alike), in ranges.
CONTROL_CLASS = "".join(
    f"\\x{ord(first):02x}" + (f"-\\x{ord(last):02x}" if last != first else "")
    for first, last in charsets.runs(CONTROL_CHARACTERS)
)
#: `rules._EMAIL` on a value that holds no whitespace (removed, or checked for apart), and no
#: control character (refused before, as the reference does), so the pattern means the same
#: in RE2, PostgreSQL and Python.
EMAIL_PATTERN = f"^[^@{CONTROL_CLASS}]+@[^@.{CONTROL_CLASS}]+(\\.[^@.{CONTROL_CLASS}]+)+$"
MADID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#: E.164: "+", a country code not starting with 0, at most 15 digits in all. The shortest
#: real numbers (Niue, Saint Helena) have 7.
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
GMAIL_DOMAINS = ("gmail.com", "googlemail.com")

#: Kinds that single out a person alone, and Google's all-or-nothing address
#: (`syncd.members._PERSONAL` and `_ADDRESS`).
PERSONAL_KINDS = (
    IdentifierKind.EMAIL,
    IdentifierKind.PHONE,
    IdentifierKind.MADID,
    IdentifierKind.EXTERNAL_ID,
)
ADDRESS_KINDS = (
    IdentifierKind.FIRST_NAME,
    IdentifierKind.LAST_NAME,
    IdentifierKind.COUNTRY,
    IdentifierKind.ZIP,
)

NOT_PUSHED: dict[IdentifierKind, str] = {
    IdentifierKind.FIRST_NAME: "names are not pushed down: Google drops Unicode punctuation "
    "and Meta folds accents (NFKD), which no warehouse does the way Python does",
    IdentifierKind.LAST_NAME: "names are not pushed down: Google drops Unicode punctuation "
    "and Meta folds accents (NFKD), which no warehouse does the way Python does",
    IdentifierKind.ZIP: "zip codes are not pushed down: Meta reads US zips by each row's "
    "country and Python's Unicode digits, Google upper-cases them with Python's tables",
}
PHONE_NOT_TRUSTED = (
    "phones are pushed down only as E.164 numbers passed through, which SQL cannot check "
    "against phonenumbers' metadata: set trust_e164_phones when the column holds E.164 "
    "numbers (others are still refused row by row)"
)


def string(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def count_where(condition: exp.Expression) -> exp.Expression:
    """How many rows meet `condition`: SUM(CASE ...) rather than COUNT(*) FILTER (...),
    which BigQuery lacks."""
    ones = exp.Case().when(condition, exp.Literal.number(1)).else_(exp.Literal.number(0))
    return exp.Coalesce(
        this=exp.cast(exp.Sum(this=ones), "bigint"), expressions=[exp.Literal.number(0)]
    )


def call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def translate(value: exp.Expression, source: str, target: str) -> exp.Expression:
    """Python's str.translate of one-character mappings; characters of `source` past the
    end of `target` are deleted (the same in DuckDB, PostgreSQL, BigQuery and Snowflake)."""
    return call("TRANSLATE", value, string(source), string(target))


def replace(value: exp.Expression, old: str, new: str) -> exp.Expression:
    return call("REPLACE", value, string(old), string(new))


def strip(value: exp.Expression, characters: str | None = None) -> exp.Expression:
    """str.strip(): Python's whitespace off both ends."""
    return exp.Trim(this=value, expression=string(characters or charsets.whitespace()))


def is_ascii(value: exp.Expression) -> exp.Expression:
    return exp.EQ(this=ByteLength(this=value.copy()), expression=exp.Length(this=value.copy()))


def matches(value: exp.Expression, pattern: str) -> exp.Expression:
    return RegexpSearch(this=value, expression=string(pattern))


def ascii_lower(value: exp.Expression) -> exp.Expression:
    return translate(value, charsets.ASCII_UPPER, charsets.ASCII_LOWER)


def python_lower(
    value: exp.Expression, delete: str = "", probe: exp.Expression | None = None
) -> exp.Expression:
    """str.lower() of `value` without the characters of `delete`, for values without a
    capital sigma. ASCII values take the ASCII table; the others the parts of the full one
    (`charsets.lower_chunks`) whose range they have characters in. `probe` is what is tested
    (`value` by default; any text `value` was derived from by deleting characters will do)."""
    probe = probe if probe is not None else value
    ascii_delete = "".join(ch for ch in delete if ch.isascii())
    full = translate(value.copy(), charsets.ASCII_UPPER + delete, charsets.ASCII_LOWER)
    for old, new in charsets.lower_table().expansions.items():
        full = replace(full, old, new)
    for chunk in charsets.lower_chunks():
        used = RegexpSearch(this=probe.copy(), expression=string(f"[{chunk.first}-{chunk.last}]"))
        source = exp.Case().when(used, string(chunk.source)).else_(string(""))
        target = exp.Case().when(used.copy(), string(chunk.target)).else_(string(""))
        full = call("TRANSLATE", full, source, target)
    return (
        exp.Case()
        .when(
            is_ascii(probe),
            translate(value.copy(), charsets.ASCII_UPPER + ascii_delete, charsets.ASCII_LOWER),
        )
        .else_(full)
    )


def has_no_whitespace(value: exp.Expression) -> exp.Expression:
    return exp.EQ(this=translate(value.copy(), charsets.whitespace(), ""), expression=value.copy())


def contains(value: exp.Expression, text: str) -> exp.Expression:
    return exp.Like(this=value, expression=string(f"%{text}%"))


def _same(value: exp.Expression) -> exp.Expression:
    return value


@dataclass(frozen=True)
class KindSql:
    """One dialect's rule for one kind, as SQL builders over a text column `t`:
    `normalize(t)` is the value before the validity check, `valid(n)` the check, `finish(n)`
    what is sent (before hashing), `undecidable(t, n)` the rows SQL cannot be sure of."""

    kind: IdentifierKind
    normalize: Builder
    valid: Builder
    reason: str  # the reference's reason when `valid` is false
    finish: Builder = _same
    undecidable: Callable[[exp.Expression, exp.Expression], exp.Expression] | None = None
    hashed: bool = True
    #: Checks of `normalize(t)` before `valid`, each with the reference's reason when true.
    refusals: tuple[tuple[Builder, str], ...] = ()


def _email_normalize(identity: IdentityDialect, text: exp.Expression) -> exp.Expression:
    if identity.email_inner_whitespace_removed:
        # "".join(value.split()).lower(): whitespace deleted by the same TRANSLATE that lowers.
        email = python_lower(text, delete=charsets.whitespace())
    else:
        email = python_lower(strip(text), probe=text)
    if identity.gmail_plus_tag_removed or identity.gmail_dots_removed:
        # gmail's rules, which the validity check sees (they may leave the local part empty).
        email = _gmail_normalized(identity, email)
    return email


def _email_valid(identity: IdentityDialect, normalized: exp.Expression) -> exp.Expression:
    pattern = matches(normalized.copy(), EMAIL_PATTERN)
    if identity.email_inner_whitespace_removed:
        return pattern
    return exp.and_(has_no_whitespace(normalized), pattern)


def _has_control(normalized: exp.Expression) -> exp.Expression:
    return matches(normalized, f"[{CONTROL_CLASS}]")


def _gmail_normalized(identity: IdentityDialect, email: exp.Expression) -> exp.Expression:
    """A valid gmail.com / googlemail.com address without its "+" tag, then without the dots
    of its local part, as `identity` says. Valid by the dialect's own check: a tag holding
    whitespace must not make an address the reference refuses valid. A valid address has
    one "@", so the tag is the first "+" up to it, and once every dot is gone "@gmailcom"
    is its domain."""
    case = exp.Case()
    for domain in GMAIL_DOMAINS:
        address = email.copy()
        if identity.gmail_plus_tag_removed:
            address = exp.RegexpReplace(
                this=address, expression=string(r"\+[^@]*@"), replacement=string("@")
            )
        if identity.gmail_dots_removed:
            undotted = replace(address, ".", "")
            address = replace(undotted, "@" + domain.replace(".", ""), "@" + domain)
        case = case.when(
            exp.and_(
                exp.Like(this=email.copy(), expression=string(f"%@{domain}")),
                _email_valid(identity, email),
            ),
            address,
        )
    return case.else_(email.copy())


def _has_contextual_lower(text: exp.Expression, normalized: exp.Expression) -> exp.Expression:
    return contains(text, charsets.CONTEXTUAL_LOWER)


def _phone_not_e164(text: exp.Expression, normalized: exp.Expression) -> exp.Expression:
    return exp.not_(matches(normalized, E164_PATTERN))


def _country_normalize(text: exp.Expression) -> exp.Expression:
    table = charsets.upper_to_ascii()
    value = strip(text)
    for old, new in table.expansions.items():
        value = replace(value, old, new)
    return translate(value, table.source, table.target)


@cache
def country_codes() -> tuple[str, ...]:
    """The codes the reference accepts, found by asking it about every pair of letters."""
    codes = []
    for pair in product(charsets.ASCII_UPPER, repeat=2):
        try:
            codes.append(normalize_country("".join(pair)))
        except InvalidIdentifier:
            continue
    return tuple(codes)


def _country_valid(normalized: exp.Expression) -> exp.Expression:
    return exp.In(this=normalized, expressions=[string(code) for code in country_codes()])


def _always(value: exp.Expression) -> exp.Expression:
    return exp.true()


def _without_plus(phone: exp.Expression) -> exp.Expression:
    # E.164 digits without the "+" (an E.164 number has exactly one, first).
    return replace(phone, "+", "")


def _madid_valid(madid: exp.Expression) -> exp.Expression:
    return matches(madid, MADID_PATTERN)


def _not_empty(normalized: exp.Expression) -> exp.Expression:
    return exp.NEQ(this=normalized, expression=string(""))


def _madid_normalize(text: exp.Expression) -> exp.Expression:
    # Python's lower() of a non-ASCII character never gives a hex digit or "-", so ASCII
    # lowercasing decides validity exactly as the full table would.
    return ascii_lower(strip(text))


def pushdown_rules(
    identity: IdentityDialect, *, trust_e164_phones: bool = False
) -> dict[IdentifierKind, KindSql]:
    """The kinds whose rule in `identity` runs in SQL, by kind."""
    hashed = identity.hashed
    rules = [
        KindSql(
            IdentifierKind.EMAIL,
            normalize=partial(_email_normalize, identity),
            valid=partial(_email_valid, identity),
            reason="invalid_email",
            undecidable=_has_contextual_lower,
            hashed=IdentifierKind.EMAIL in hashed,
            refusals=((_has_control, "control_character"),),
        ),
        KindSql(
            IdentifierKind.COUNTRY,
            normalize=_country_normalize,
            valid=_country_valid,
            reason="invalid_country",
            finish=ascii_lower if identity.country_lowercase else _same,
            hashed=IdentifierKind.COUNTRY in hashed,
        ),
        KindSql(
            IdentifierKind.EXTERNAL_ID,
            normalize=strip,
            valid=_not_empty,
            reason="invalid_external_id",
            hashed=IdentifierKind.EXTERNAL_ID in hashed,
        ),
        KindSql(
            IdentifierKind.MADID,
            normalize=_madid_normalize,
            valid=_madid_valid,
            reason="invalid_madid",
            hashed=IdentifierKind.MADID in hashed,
        ),
    ]
    if trust_e164_phones:
        rules.append(
            KindSql(
                IdentifierKind.PHONE,
                normalize=strip,
                valid=_always,  # anything but E.164 is undecidable, never invalid
                reason="invalid_phone",
                finish=_same if identity.phone_plus else _without_plus,
                undecidable=_phone_not_e164,
                hashed=IdentifierKind.PHONE in hashed,
            )
        )
    return {rule.kind: rule for rule in rules}


def is_pushdownable(
    identifiers: Iterable[IdentifierKind],
    identity: IdentityDialect,
    *,
    trust_e164_phones: bool = False,
) -> tuple[bool, str]:
    """Whether a segment with these identifier kinds (a mapping's keys will do) can be
    normalized, hashed and diffed in SQL by the `identity` dialect, and if not, why not."""
    pushed = pushdown_rules(identity, trust_e164_phones=trust_e164_phones)
    reasons = []
    for kind in dict.fromkeys(IdentifierKind(kind) for kind in identifiers):
        if kind in pushed:
            continue
        if kind is IdentifierKind.PHONE:
            reasons.append(PHONE_NOT_TRUSTED)
        else:
            reasons.append(NOT_PUSHED.get(kind, f"{kind.value} has no SQL rule"))
    if reasons:
        return False, "; ".join(dict.fromkeys(reasons))
    return True, "every identifier kind has an exact SQL rule"
