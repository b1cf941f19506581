"""Query strings as the TikTok emulator's GET endpoints read them: bounded integers, arrays and
objects sent as JSON text (``dimensions=["adgroup_id","stat_time_day"]``, as bububa/tiktok-business
``model/report/integrated_get.go`` and ``model/adgroup/get.go`` encode them), and TikTok's
``page_info`` paging, each refused with code 40002 naming the parameter."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from syncd.destinations.tiktok.sandbox.errors import INVALID_PARAMS, TikTokError

__all__ = ["bounded", "json_value", "names", "paged"]

_T = TypeVar("_T")


def bounded(raw: str | None, name: str, default: int, least: int, most: int) -> int:
    """An integer query parameter within [least, most]."""
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not least <= int(raw) <= most:
        raise TikTokError(INVALID_PARAMS, f"{name}: Must be an integer between {least} and {most}.")
    return int(raw)


def json_value(raw: str | None, name: str, kind: type) -> Any:
    """A JSON array or object sent as text, or None when the parameter is absent."""
    if raw is None or raw == "":
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, kind):
        shape = "array" if kind is list else "object"
        raise TikTokError(INVALID_PARAMS, f"{name}: Must be a JSON {shape}.")
    return value


def names(raw: str | None, name: str, allowed: Sequence[str]) -> list[str]:
    """A JSON array of names, each one of ``allowed`` (none repeated); [] when absent."""
    values = json_value(raw, name, list) or []
    for value in values:
        if value not in allowed:
            raise TikTokError(INVALID_PARAMS, f"{name}: {value!r} is not supported.")
    if len(set(values)) != len(values):
        raise TikTokError(INVALID_PARAMS, f"{name}: Values must be unique.")
    return list(values)


def paged(items: Sequence[_T], page: int, size: int) -> tuple[list[_T], dict[str, int]]:
    """One page of ``items`` and TikTok's ``page_info`` about all of them."""
    page_info = {
        "page": page,
        "page_size": size,
        "total_number": len(items),
        "total_page": -(-len(items) // size),
    }
    return list(items[(page - 1) * size : page * size]), page_info
