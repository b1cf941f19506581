"""Phone numbers for the demo shop's visitors: valid for `phonenumbers`, taken from ranges
kept for fiction (US 555, UK Ofcom drama ranges), and written the ways people write them
(national, international, E.164, bare digits, with an exit code).
"""

from __future__ import annotations

import random
from functools import cache
from itertools import accumulate

import phonenumbers

__all__ = ["new_phone", "render_phone"]

# National significant numbers minus their last four digits. Each stem was checked to give
# numbers `phonenumbers.is_valid_number` accepts; US 555 and UK Ofcom drama ranges look fake.
_PHONE_STEMS: dict[str, tuple[str, ...]] = {
    "US": tuple(f"{area}555" for area in (201, 206, 212, 213, 303, 305, 312, 404, 415, 503,
                                           512, 617, 702, 713, 718, 801)),
    "GB": ("207946", "161496", "113496", "117496", "740012", "771234", "121234"),
    "DE": ("301234", "3012", "8912345", "6912345", "1512345", "170123", "1701234", "40123",
           "21112"),
    "FR": ("61234", "67890", "12345", "75123", "49876", "98765", "33456", "55123"),
    "IN": ("812345", "987654", "912345", "998877", "741041", "112345", "223456"),
    "BR": ("1196123", "2198765", "3198765", "5199876", "112345"),
}  # fmt: skip
_PHONE_STYLES = ("national", "international", "e164", "digits", "alternate")
_PHONE_STYLE_CUM_WEIGHTS = tuple(accumulate((45, 22, 15, 10, 8)))


def new_phone(rng: random.Random, region: str, taken: set[tuple[str, str]]) -> tuple[str, str]:
    """A (stem, suffix) phonenumbers accepts for `region`, not yet given to anyone else.

    Once a region's ranges run low, people share a number, as households do.
    """
    country_code = phonenumbers.country_code_for_region(region)
    for attempt in range(40):
        stem, suffix = rng.choice(_PHONE_STEMS[region]), f"{rng.randrange(10_000):04d}"
        if (region, stem + suffix) in taken and attempt < 20:
            continue
        number = phonenumbers.PhoneNumber(
            country_code=country_code, national_number=int(stem + suffix)
        )
        if phonenumbers.is_valid_number_for_region(number, region):
            taken.add((region, stem + suffix))
            return stem, suffix
    raise RuntimeError(f"phone stems for {region} no longer give valid numbers")


def render_phone(rng: random.Random, phone: tuple[str, str, str], country: str) -> str:
    """`phone` (region, stem, suffix) as a visitor living in `country` writes it."""
    region, stem, suffix = phone
    style = rng.choices(_PHONE_STYLES, cum_weights=_PHONE_STYLE_CUM_WEIGHTS)[0]
    if region != country:  # abroad, a national format would be misread
        style = rng.choice(("international", "e164"))
    return _phone_templates(region, stem)[style].format(*suffix)


@cache
def _phone_templates(region: str, stem: str) -> dict[str, str]:
    """Formats of one stem with `{}` where the four suffix digits go.

    Formatting rules depend on leading digits only, so formatting the stem once and slotting
    the suffix in is exact and avoids a `format_number` call per visitor.
    """
    country_code = phonenumbers.country_code_for_region(region)
    number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(stem + "0000"))
    fmt = phonenumbers.PhoneNumberFormat

    def slotted(text: str) -> str:
        chars, left = list(text), 4
        for i in range(len(chars) - 1, -1, -1):
            if left and chars[i].isdigit():
                chars[i], left = "{}", left - 1
        return "".join(chars)

    national = slotted(phonenumbers.format_number(number, fmt.NATIONAL))
    international = slotted(phonenumbers.format_number(number, fmt.INTERNATIONAL))
    digits = "".join(c for c in national if c.isdigit()) + "{}{}{}{}"
    if region == "US":  # 415.555.0132; Americans rarely write the 011 exit code
        alternate = f"{digits[:3]}.{digits[3:6]}.{{}}{{}}{{}}{{}}"
    elif region == "BR":  # 21 98765-4321; Brazil's 00 is followed by a carrier code
        alternate = national.replace("(", "").replace(")", "")
    else:  # 0049 30 1234567: the 00 exit code instead of "+"
        alternate = "00" + international[1:]
    return {
        "national": national,
        "international": international,
        "e164": "+" + "".join(c for c in international if c.isdigit()) + "{}{}{}{}",
        "digits": digits,
        "alternate": alternate,
    }
