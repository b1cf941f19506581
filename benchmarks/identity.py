"""Identity benchmark: the vectorized paths against the per-row ones, on the same dirty data.

    python benchmarks/identity.py [--rows N] [--seed S]

Generates N realistic dirty emails and N phones (with each row's country), then times:

- the SDKs' per-row paths, as their documentation shows them: facebook-business
  `CustomAudience.format_params` for emails, the google-ads example `normalize_and_hash` /
  `normalize_and_hash_email_address`, and phonenumbers parse + format E.164 + SHA-256;
- syncd's reference path (`normalize_column_reference`: the per-value rules, cached per
  distinct value), which defines the results;
- syncd's vectorized path (`normalize_column`), whose values and reasons must be
  bit-identical to the reference's on every row: the table says so for each run;
- member keys, per row (`member_key`) and as a pass stores them (`member_key_sql`);
- SHA-256 engines alone, to show why DuckDB hashes the columns.

Per-row paths are timed once on a sample of the rows (rows/s is a rate), vectorized paths
best of five on all rows. The equality check runs the reference on every row, in spawned
processes (it is a check, not a timing). Every number comes from this run on this machine;
other processes may share its cores, so compare the ratios, measured side by side.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import random
import re
import string
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import phonenumbers
import pyarrow as pa
from facebook_business.adobjects.customaudience import CustomAudience

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from syncd.identity import (
    GOOGLE,
    META,
    Dialect,
    IdentifierKind,
    normalize_column,
    normalize_column_reference,
    sha256_hex_array,
)
from syncd.members import IDENTIFIER_COLUMNS, member_key, member_key_sql

SHA256_CEILING_PER_CORE = 7_000_000
DIALECTS = {"google": GOOGLE, "meta": META}
BASELINE_SAMPLE = 200_000


# --- the SDK paths, written as their documentation shows them -------------------------------


def google_normalize_and_hash(s: str) -> str:
    """google-ads example (add_customer_match_user_list.py): strip, lower, SHA-256 hex."""
    return hashlib.sha256(s.strip().lower().encode()).hexdigest()


def google_normalize_and_hash_email_address(email_address: str) -> str:
    """google-ads example: the gmail variant, dots removed before gmail.com/googlemail.com."""
    normalized_email = email_address.strip().lower()
    email_parts = normalized_email.split("@")
    if len(email_parts) > 1 and re.match(r"^(gmail|googlemail)\.com$", email_parts[1]):
        email_parts[0] = email_parts[0].replace(".", "")
        normalized_email = "@".join(email_parts)
    return google_normalize_and_hash(normalized_email)


def meta_sdk_emails(emails: list[str]) -> list[str]:
    """facebook-business: CustomAudience.format_params with the EMAIL_SHA256 schema."""
    params = CustomAudience.format_params(CustomAudience.Schema.email_hash, emails)
    return params["payload"]["data"]


def phonenumbers_e164_hash(value: str, country: str | None) -> str | None:
    """phonenumbers per row: parse with the row's country, validate, E.164, SHA-256."""
    try:
        number = phonenumbers.parse(value, country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return hashlib.sha256(e164.encode()).hexdigest()


# --- realistic dirty data ---------------------------------------------------------------------

FIRST = [
    "james",
    "mary",
    "john",
    "patricia",
    "robert",
    "jennifer",
    "michael",
    "linda",
    "david",
    "elizabeth",
    "jose",
    "zoe",
]
LAST = [
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "martinez",
    "lopez",
    "oneil",
]
DOMAINS = [
    ("gmail.com", 30),
    ("googlemail.com", 2),
    ("yahoo.com", 10),
    ("hotmail.com", 8),
    ("outlook.com", 8),
    ("icloud.com", 5),
    ("yahoo.co.uk", 3),
    ("web.de", 3),
    ("orange.fr", 3),
    ("example.com", 5),
    ("shop-mail.example.org", 3),
]
INVALID_EMAILS = ["n/a", "none", "john@", "@example.com", "a@b", "no email", "x@y..com", "-"]


def dirty_emails(rows: int, rnd: random.Random) -> list[object]:
    """Mixed case, outer and inner whitespace, gmail dots, ~2% invalid, some non-ASCII,
    NULLs and blanks, a few over-long values, ~3% repeated people."""
    domains = [d for d, _ in DOMAINS]
    weights = [w for _, w in DOMAINS]
    out: list[object] = []
    for _ in range(rows):
        r = rnd.random()
        if r < 0.01:
            out.append(None)
            continue
        if r < 0.03:
            out.append(rnd.choice(INVALID_EMAILS))
            continue
        if r < 0.06 and out:
            out.append(out[rnd.randrange(len(out))])
            continue
        local = rnd.choice(FIRST) + rnd.choice([".", "_", "", "."]) + rnd.choice(LAST)
        local += str(rnd.randrange(10_000)) if rnd.random() < 0.7 else ""
        email = local + "@" + rnd.choices(domains, weights)[0]
        style = rnd.random()
        if style < 0.3:
            email = email.title()
        elif style < 0.35:
            email = email.upper()
        pad = rnd.random()
        if pad < 0.10:
            email = " " + email + "  "
        elif pad < 0.12:
            email = "\t" + email + "\n"
        elif pad < 0.125:
            email = email.replace("@", " @", 1)
        elif pad < 0.128:
            email = "\u00a0" + email  # NBSP: Python strips it, ASCII kernels would not
        elif pad < 0.130:
            email = email.replace("o", "ö", 1)
        elif pad < 0.1302:
            email = "x" * 600 + email
        out.append(email)
    return out


def _digits(rnd: random.Random, count: int) -> str:
    return "".join(rnd.choice(string.digits) for _ in range(count))


# Each: (region, national significant number maker, national formats, calling code)
def _us(rnd: random.Random) -> str:
    return rnd.choice(["212", "415", "312", "617", "305", "206", "702", "512"]) + _digits(rnd, 7)


def _gb(rnd: random.Random) -> str:
    return rnd.choice(["7700", "7911", "7400", "2079", "1614", "1134"]) + _digits(rnd, 6)


def _de(rnd: random.Random) -> str:
    return rnd.choice(["151", "160", "170", "176", "30", "89", "40"]) + _digits(rnd, 8)


def _fr(rnd: random.Random) -> str:
    return rnd.choice(["6", "7", "1", "4"]) + _digits(rnd, 8)


def _in(rnd: random.Random) -> str:
    return rnd.choice(["98", "99", "91", "87", "70", "80"]) + _digits(rnd, 8)


def _br(rnd: random.Random) -> str:
    return rnd.choice(["11", "21", "31", "41", "51", "61"]) + "9" + _digits(rnd, 8)


def _national(region: str, nsn: str, rnd: random.Random) -> str:
    if region == "US":
        return rnd.choice(
            [
                f"({nsn[:3]}) {nsn[3:6]}-{nsn[6:]}",
                f"{nsn[:3]}-{nsn[3:6]}-{nsn[6:]}",
                f"{nsn[:3]}.{nsn[3:6]}.{nsn[6:]}",
                f"1 {nsn[:3]} {nsn[3:6]} {nsn[6:]}",
                nsn,
            ]
        )
    if region == "GB":
        return rnd.choice([f"0{nsn[:4]} {nsn[4:]}", f"0{nsn}", f"0{nsn[:2]} {nsn[2:6]} {nsn[6:]}"])
    if region == "DE":
        return rnd.choice([f"0{nsn[:3]} {nsn[3:]}", f"0{nsn}", f"(0{nsn[:3]}) {nsn[3:]}"])
    if region == "FR":
        pairs = " ".join(nsn[i : i + 2] for i in range(1, 9, 2))
        return rnd.choice([f"0{nsn[0]} {pairs}", f"0{nsn}", f"0{nsn[0]}.{pairs.replace(' ', '.')}"])
    if region == "IN":
        return rnd.choice([nsn, f"0{nsn}", f"{nsn[:5]} {nsn[5:]}"])
    return rnd.choice([f"({nsn[:2]}) {nsn[2:7]}-{nsn[7:]}", f"{nsn[:2]} {nsn[2:]}", nsn])


REGIONS = [("US", 1, _us, 35), ("GB", 44, _gb, 15), ("DE", 49, _de, 15), ("FR", 33, _fr, 10)]
REGIONS += [("IN", 91, _in, 15), ("BR", 55, _br, 10)]
JUNK_PHONES = ["n/a", "000", "12345", "unknown", "+1 555", "call me", "0", "+", "-", "tbd"]


def dirty_phones(rows: int, rnd: random.Random) -> tuple[list[object], list[str | None]]:
    """E.164, "+cc ..." and "00cc ..." international forms, national formats of US, GB, DE,
    FR, IN and BR read with the row's country, ~3% junk, NULL countries, repeats."""
    weights = [w for *_, w in REGIONS]
    values: list[object] = []
    countries: list[str | None] = []
    for _ in range(rows):
        region, code, make, _weight = rnd.choices(REGIONS, weights)[0]
        country: str | None = region if rnd.random() < 0.95 else None
        r = rnd.random()
        if r < 0.01:
            value: object = None
        elif r < 0.04:
            value = rnd.choice(JUNK_PHONES)
        elif r < 0.06 and values:
            value = values[rnd.randrange(len(values))]
        else:
            nsn = make(rnd)
            form = rnd.random()
            if form < 0.35:
                value = f"+{code}{nsn}"
            elif form < 0.45:
                value = f"+{code} {nsn[:3]} {nsn[3:]}"
            elif form < 0.48:
                value = f"00{code} {nsn}"
            elif form < 0.50:
                value = f"{code}{nsn}"  # Meta's own form, without "+"
            else:
                value = _national(region, nsn, rnd)
            if rnd.random() < 0.05:
                value = f" {value} "
        values.append(value)
        countries.append(country)
    return values, countries


# --- timing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """Rows per wall-clock second, and per CPU-second of this process (all its threads):
    the second barely moves when other processes share the cores, the first does."""

    rows: int
    wall: float
    cpu: float
    result: object = None

    @property
    def per_second(self) -> float:
        return self.rows / self.wall

    @property
    def per_cpu_second(self) -> float:
        return self.rows / self.cpu if self.cpu > 0 else float("inf")


def measure(function: Callable[[], object], rows: int, repeat: int = 1) -> Rate:
    """The best of `repeat` runs."""
    best: Rate | None = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        rate = Rate(rows, time.perf_counter() - wall, time.process_time() - cpu, result)
        best = rate if best is None or rate.wall < best.wall else best
    assert best is not None
    return best


class Table:
    HEADER = ("path", "rows/s", "rows/CPU-s", "vs baseline", "outputs identical")

    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []

    def section(self, title: str) -> None:
        self.rows.append((f"-- {title}", "", "", "", ""))

    def add(self, path: str, rate: Rate, baseline: Rate | None, identical: str) -> None:
        ratio = rate.per_second / baseline.per_second if baseline else 1.0
        self.rows.append(
            (
                path,
                f"{rate.per_second / 1e6:.2f} M",
                f"{rate.per_cpu_second / 1e6:.2f} M",
                f"{ratio:.1f}x",
                identical,
            )
        )

    def print(self) -> None:
        widths = [max(len(r[i]) for r in [self.HEADER, *self.rows]) for i in range(5)]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        print(line.format(*self.HEADER))
        print(line.format(*("-" * w for w in widths)))
        for row in self.rows:
            print(line.format(*row))


def reference_outputs(
    dialect: Dialect, kind: IdentifierKind, values: pa.Array, countries: pa.Array | None
) -> tuple[list[object], list[object]]:
    """The reference path's values and reasons for every row, split over one spawned (not
    forked) process per core: this is the check, not a timing."""
    workers = os.cpu_count() or 1
    step = -(-len(values) // workers)
    parts = [
        (
            dialect,
            kind,
            values.slice(start, step),
            countries.slice(start, step) if countries is not None else None,
        )
        for start in range(0, len(values), step)
    ]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        answers = list(pool.map(_reference_part, parts))
    return (
        [v for part_values, _ in answers for v in part_values],
        [r for _, part_reasons in answers for r in part_reasons],
    )


def _reference_part(
    part: tuple[Dialect, IdentifierKind, pa.Array, pa.Array | None],
) -> tuple[list[object], list[object]]:
    return column_outputs(normalize_column_reference(*part))


def same(fast: object, reference: object) -> str:
    return "yes" if fast == reference else "NO"


def column_outputs(column: object) -> tuple[list[object], list[object]]:
    return column.values.to_pylist(), column.reasons.to_pylist()  # type: ignore[attr-defined]


def bench_emails(table: Table, raw: list[object], sample: int) -> None:
    arr = pa.array(raw, pa.string())
    texts = [v for v in raw[:sample] if isinstance(v, str)]
    head = arr.slice(0, sample)
    for name, dialect in DIALECTS.items():
        table.section(f"email, {name}")
        if dialect is META:
            base = measure(lambda: meta_sdk_emails(texts), len(texts))
            table.add("facebook-business format_params (per row)", base, None, "baseline")
        else:
            base = measure(
                lambda: [google_normalize_and_hash_email_address(t) for t in texts], len(texts)
            )
            table.add("google-ads normalize_and_hash_email_address", base, None, "baseline")
        rate = measure(
            lambda d=dialect: normalize_column_reference(d, IdentifierKind.EMAIL, head), sample
        )
        table.add("syncd reference (per distinct value)", rate, base, "reference")
        reference = reference_outputs(dialect, IdentifierKind.EMAIL, arr, None)
        fast = measure(
            lambda d=dialect: normalize_column(d, IdentifierKind.EMAIL, arr), len(arr), repeat=5
        )
        identical = same(column_outputs(fast.result), reference)
        table.add("syncd vectorized normalize_column", fast, base, identical)


def bench_phones(table: Table, raw: list[object], countries: list[str | None], sample: int) -> None:
    arr = pa.array(raw, pa.string())
    country_arr = pa.array(countries, pa.string())
    pairs = [(v, c) for v, c in zip(raw[:sample], countries[:sample], strict=True) if v is not None]
    base = measure(lambda: [phonenumbers_e164_hash(v, c) for v, c in pairs], len(pairs))
    head, head_countries = arr.slice(0, sample), country_arr.slice(0, sample)
    for name, dialect in DIALECTS.items():
        table.section(f"phone, {name}")
        table.add("phonenumbers parse + E.164 + sha256 (per row)", base, None, "baseline")
        rate = measure(
            lambda d=dialect: normalize_column_reference(
                d, IdentifierKind.PHONE, head, head_countries
            ),
            sample,
        )
        table.add("syncd reference (per distinct value)", rate, base, "reference")
        reference = reference_outputs(dialect, IdentifierKind.PHONE, arr, country_arr)
        fast = measure(
            lambda d=dialect: normalize_column(d, IdentifierKind.PHONE, arr, country_arr),
            len(arr),
            repeat=5,
        )
        identical = same(column_outputs(fast.result), reference)
        table.add("syncd vectorized normalize_column", fast, base, identical)


def bench_member_keys(table: Table, emails: list[object], phones: list[object]) -> None:
    rows = len(emails)
    google = normalize_column(GOOGLE, IdentifierKind.EMAIL, pa.array(emails, pa.string()))
    columns = {name: pa.nulls(rows, pa.string()) for name in IDENTIFIER_COLUMNS}
    columns["email"] = google.values
    columns["phone"] = sha256_hex_array(pa.array([str(p) for p in phones], pa.string()))
    columns["country"] = pa.array(["US", None, "GB", "DE"] * (rows // 4) + ["FR"] * (rows % 4))
    members = pa.table(columns)
    table.section("member_key (8 columns, 3 filled)")

    def per_row() -> list[str]:
        listed = [members[name].to_pylist() for name in IDENTIFIER_COLUMNS]
        return [member_key(row) for row in zip(*listed, strict=True)]

    base = measure(per_row, rows)
    table.add("syncd member_key (per row)", base, None, "baseline")
    with duckdb.connect() as db:  # as a pass stores them: UUIDs computed by DuckDB
        db.register("members", members)

        def stored() -> None:
            db.execute(
                "CREATE OR REPLACE TABLE keys AS "
                f"SELECT {member_key_sql(IDENTIFIER_COLUMNS)} AS member_key FROM members"
            )

        fast = measure(stored, rows, repeat=3)
        keys = db.sql("SELECT CAST(member_key AS VARCHAR) FROM keys ORDER BY rowid").fetchall()
    identical = same([key for (key,) in keys], base.result)
    table.add("syncd member_key_sql (DuckDB, stored)", fast, base, identical)


def bench_sha256(table: Table, emails: list[object]) -> None:
    texts = [v for v in emails if isinstance(v, str)]
    arr = pa.array(texts, pa.string())
    table.section("SHA-256 alone, of the raw emails")
    base = measure(lambda: [hashlib.sha256(t.encode()).hexdigest() for t in texts], len(texts))
    table.add("hashlib, one call per value (1 thread)", base, None, "baseline")
    workers = os.cpu_count() or 1
    chunks = [texts[i :: workers * 4] for i in range(workers * 4)]
    with ThreadPoolExecutor(workers) as pool:
        rate = measure(
            lambda: list(
                pool.map(lambda c: [hashlib.sha256(t.encode()).hexdigest() for t in c], chunks)
            ),
            len(texts),
        )
    table.add(f"hashlib in a ThreadPool({workers})", rate, base, "(same calls)")
    fast = measure(lambda: sha256_hex_array(arr), len(texts), repeat=3)
    identical = same(fast.result.to_pylist(), base.result)  # type: ignore[attr-defined]
    table.add(f"DuckDB sha256() over Arrow ({workers} threads)", fast, base, identical)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    started = time.perf_counter()
    emails = dirty_emails(args.rows, rnd)
    phones, countries = dirty_phones(args.rows, rnd)
    sample = min(args.rows, BASELINE_SAMPLE)
    print(
        f"{args.rows:,} rows each, seed {args.seed}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.2f} before; per-row baselines timed on the first {sample:,} rows"
    )
    table = Table()
    bench_emails(table, emails, sample)
    bench_phones(table, phones, countries, sample)
    bench_member_keys(table, emails, phones)
    bench_sha256(table, emails)
    table.print()
    cores = os.cpu_count() or 1
    print(
        f"\nSHA-256 ceiling: about {SHA256_CEILING_PER_CORE / 1e6:.0f} M short strings/s per core"
        f" (x{cores} cores = {cores * SHA256_CEILING_PER_CORE / 1e6:.0f} M/s) with SHA-NI;"
        " DuckDB's sha256() reaches about 4 M/s per core. No path that hashes every row"
        " beats the ceiling."
    )
    print(
        "rows/CPU-s counts the CPU time of all this process's threads: on an idle machine a"
        f" path using all {cores} cores runs at up to {cores}x that in rows/s."
    )
    print(
        f"total {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.2f}"
        " after (other processes share these cores: compare ratios measured side by side)"
    )


if __name__ == "__main__":
    main()
