"""syncd's Google Ads API error table and version against the installed google-ads library.

Every error code the table acts on must exist, undeprecated, in the ``ErrorCode`` of the API
version syncd speaks: a code Google renames or removes in a new version would otherwise never
match, and its errors would lose their fix. The version must be one the library ships.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from google.ads.googleads import client as ads_client

from syncd.destinations.google.ads_connection import API_VERSION
from syncd.destinations.google.ads_errors import RULES

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def error_code_fields() -> Any:
    errors = importlib.import_module(f"google.ads.googleads.{API_VERSION}.errors.types.errors")
    return errors.ErrorCode.pb().DESCRIPTOR.fields_by_name


def test_syncd_speaks_a_version_the_library_ships() -> None:
    assert API_VERSION in ads_client._VALID_API_VERSIONS


def test_the_floor_of_google_ads_ships_the_version_syncd_speaks() -> None:
    """google-ads 31.2.0 is the first release whose versions (and default) include v25."""
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    floors = [re.fullmatch(r"google-ads>=(\d+)\.(\d+)(\.\d+)?", d) for d in dependencies]
    floor = next(match for match in floors if match is not None)
    assert (int(floor[1]), int(floor[2])) >= (31, 2)


@pytest.mark.parametrize(("kind", "code"), sorted(RULES), ids="{}".format)
def test_each_error_code_of_the_table_exists_in_the_api_version(kind: str, code: str) -> None:
    field = error_code_fields().get(kind)
    assert field is not None and field.enum_type is not None, f"no {kind} in {API_VERSION}"
    if code == "*":
        return
    value = field.enum_type.values_by_name.get(code)
    assert value is not None, f"{kind}: {code} is not in {API_VERSION}"
    assert not value.GetOptions().deprecated, f"{kind}: {code} is deprecated in {API_VERSION}"
