"""Who is held out: a pure function of the experiment's salt, the person's key and the fraction.

A holdout only measures anything if a person stays in one group for the whole experiment,
across passes, restarts, batch sizes and warehouses, so the group is computed, never drawn
or stored: SHA-256 over the salt, one 0x1f byte and the key's UTF-8 bytes; the first 8 bytes
of the digest, read big-endian as an unsigned 64-bit integer `h`, put the person in bucket
`h / 2**64`, uniform on [0, 1); the person is held out iff that bucket is below the fraction.
Raising the fraction therefore only moves people into the holdout, and each experiment's own
salt makes its holdout independent of every other's.

SHA-256 rather than a faster hash because the same rule can then be written in warehouse SQL:
DuckDB, PostgreSQL (`sha256`), BigQuery (`SHA256`) and Snowflake (`SHA2(..., 256)`) all have
it. The comparison is done on integers, `h < threshold(fraction)`, so no engine's floating
point decides a border case; engines without an unsigned 64-bit type compare the digest's
first 16 lowercase hex digits with the threshold's (`format(threshold, '016x')`; fraction 1,
threshold 2**64, holds everyone), which orders the same way. In DuckDB, for example:

    left(sha256(salt || chr(31) || key), 16) < '1999999999999a00'   -- fraction 0.1

A salt is a 32-digit hex string (see `experiment_salt`) and never contains 0x1f, so
salt, separator and key always split one way.
"""

from __future__ import annotations

import hashlib
import math

import pyarrow as pa
import pyarrow.compute as pc

#: The byte between the salt and the key (ASCII unit separator).
SEPARATOR = b"\x1f"
#: What a derived salt is a hash of, before the experiment's name: a version of this rule.
_SALT_DOMAIN = "syncd.lift.holdout.v1"


class InvalidKey(ValueError):
    """A person without a key cannot be assigned: a null or empty key would put every such
    person in one bucket, the same group, instead of a random one."""


def experiment_salt(name: str, salt: str | None = None) -> str:
    """The salt of the experiment named `name` (a segment's or an audience's name), and of the
    user's own `salt` when the config sets one.

    Each name gives its own salt, so two experiments hold out independent sets of people; a
    new `salt` re-randomizes one experiment (a fresh holdout after a long one). Renaming the
    segment starts a new experiment too. The salt is a hash of the parts, 32 hex digits, so it
    pastes into SQL as it is and the parts cannot run into the key.
    """
    for label, part in (("experiment name", name), ("salt", salt)):
        if part is not None and (not part or "\x1f" in part):
            raise ValueError(f"the {label} must be non-empty text without 0x1f: {part!r}")
    parts = [_SALT_DOMAIN, name] if salt is None else [_SALT_DOMAIN, name, salt]
    digest = hashlib.sha256(SEPARATOR.join(part.encode() for part in parts))
    return digest.hexdigest()[:32]


def threshold(fraction: float) -> int:
    """The integer a key's 64-bit hash must be below to be held out: ceil(fraction * 2**64).

    `fraction * 2**64` is exact in floating point (a power-of-two scaling), and for an integer
    `h`, `h < ceil(x)` iff `h < x`: this is `h / 2**64 < fraction` without rounding.
    """
    if not 0.0 <= fraction <= 1.0:  # also refuses NaN
        raise ValueError(f"a holdout fraction is between 0 and 1, got {fraction!r}")
    return math.ceil(fraction * 2**64)


def is_held_out(salt: str, key: str, fraction: float) -> bool:
    """Whether the person with `key` is held out of the experiment with `salt`."""
    return _hash64(_prefix(salt), _checked(key)) < threshold(fraction)


def held_out(salt: str, keys: pa.Array, fraction: float) -> pa.BooleanArray:
    """`is_held_out` over an Arrow array of string keys, True where held out.

    pyarrow has no SHA-256 kernel, so this hashes in one tight Python loop over the values.
    A null or empty key anywhere refuses the whole array (`InvalidKey`) before any is hashed.
    """
    if not (pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type)):
        raise TypeError(f"person keys are strings, got an array of {keys.type}")
    if keys.null_count:
        first = pc.index(pc.is_null(keys), True).as_py()
        raise InvalidKey(f"{keys.null_count} person key(s) are null, the first at row {first}")
    empty = pc.equal(pc.utf8_length(keys), 0)
    if pc.any(empty).as_py():
        first = pc.index(empty, True).as_py()
        raise InvalidKey(f"person keys must not be empty: row {first} is")
    limit = threshold(fraction)
    if limit >= 2**64:  # fraction 1: no 8-byte value reaches the limit
        return pa.array([True] * len(keys), pa.bool_())
    # Equal-length byte strings compare as their big-endian integers do.
    limit_bytes = limit.to_bytes(8, "big")
    prefix = _prefix(salt)
    sha256 = hashlib.sha256
    flags = [sha256(prefix + key.encode()).digest()[:8] < limit_bytes for key in keys.to_pylist()]
    return pa.array(flags, pa.bool_())


def _prefix(salt: str) -> bytes:
    if not salt or "\x1f" in salt:
        raise ValueError(f"a salt is non-empty text without 0x1f, got {salt!r}")
    return salt.encode() + SEPARATOR


def _checked(key: str | None) -> str:
    if key is None:
        raise InvalidKey("a person key is null")
    if not key:
        raise InvalidKey("a person key is empty")
    return key


def _hash64(prefix: bytes, key: str) -> int:
    return int.from_bytes(hashlib.sha256(prefix + key.encode()).digest()[:8], "big")
