"""`IsoCountry`: a config value that must be an ISO 3166-1 alpha-2 country code, stored as the
code (upper case), for every block with a `default_country` (segments, outcomes)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from syncd.identity import InvalidIdentifier, normalize_country


def _iso_country(value: str) -> str:
    try:
        return normalize_country(value)
    except InvalidIdentifier:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code") from None


IsoCountry = Annotated[str, AfterValidator(_iso_country)]
