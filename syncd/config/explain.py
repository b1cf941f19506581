"""Pydantic's validation errors, said as config problems: at the key path written in the
YAML (not pydantic's, which inserts discriminator tags), with the field's own description as
the hint and, for an unknown key, the closest allowed one.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from syncd.config.models import ConfigRuleError, SyncdConfig
from syncd.config.problems import ConfigProblem, format_path

__all__ = ["explain"]


def explain(error: Any, data: dict[str, Any]) -> ConfigProblem:
    """One pydantic error of validating `data` as a SyncdConfig, as a problem at the key
    path written in the YAML, with the field's description as its hint."""
    rule = error.get("ctx", {}).get("error")
    if isinstance(rule, ConfigRuleError):  # a rule across sections names its own key
        return ConfigProblem(rule.path, rule.message, rule.hint)
    path, model, field_name = _locate(error["loc"], data)
    kind = error["type"]
    described = model.model_fields.get(field_name) if model and field_name else None
    hint = (described.description or "") if described else ""
    if kind == "extra_forbidden":
        allowed = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(str(field_name), allowed, n=1)
        hint = (f"did you mean {close[0]!r}? " if close else "") + f"allowed: {', '.join(allowed)}"
        return ConfigProblem(path, "unknown key", hint)
    if kind == "missing":
        return ConfigProblem(path, "required key is missing", hint)
    message = error["msg"].removeprefix("Value error, ")
    if "input" in error and kind not in ("union_tag_invalid", "union_tag_not_found"):
        is_secret = "secret" in str(hint).lower() or "token" in path
        if not is_secret and isinstance(error["input"], str | int | float | bool):
            message += f" (got {error['input']!r})"
    return ConfigProblem(path, message, hint)


def _locate(
    loc: tuple[str | int, ...], data: Any
) -> tuple[str, type[BaseModel] | None, str | None]:
    """Walk pydantic's error location through the data and the models together, dropping
    the discriminator tags pydantic inserts, so the path is the one written in the YAML."""
    clean: list[str | int] = []
    model: type[BaseModel] | None = SyncdConfig
    annotation: Any = SyncdConfig
    field_name: str | None = None
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(data, dict) and part not in data and data.get("kind") == part:
            annotation = _union_member(annotation, part)
            continue
        clean.append(part)
        data = data.get(part) if isinstance(data, dict) else _index(data, part)
        annotation, model, field_name = _step(annotation, part, model, field_name)
    return format_path(tuple(clean)), model, field_name


def _index(data: Any, part: str | int) -> Any:
    if isinstance(data, list) and isinstance(part, int) and part < len(data):
        return data[part]
    return None


def _step(
    annotation: Any, part: str | int, model: type[BaseModel] | None, field_name: str | None
) -> tuple[Any, type[BaseModel] | None, str | None]:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return (field.annotation if field else None), annotation, str(part)
    origin = typing.get_origin(annotation)
    if origin in (dict, list):
        return typing.get_args(annotation)[-1], model, field_name
    return None, model, field_name


def _unwrap(annotation: Any) -> Any:
    """The type under Annotated[...] and under an optional `X | None` (so errors inside an
    optional section, such as a destination's `reporting`, get their own field's hint)."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        is_union = isinstance(annotation, types.UnionType) or (
            typing.get_origin(annotation) is typing.Union
        )
        members = [m for m in typing.get_args(annotation) if m is not type(None)]
        if is_union and len(members) == 1 and len(typing.get_args(annotation)) == 2:
            annotation = members[0]
            continue
        return annotation


def _union_member(annotation: Any, tag: str | int) -> Any:
    for member in _union_members(_unwrap(annotation)):
        field = member.model_fields.get("kind")
        if field is not None and tag in typing.get_args(field.annotation):
            return member
    return annotation


def _union_members(annotation: Any) -> Iterator[type[BaseModel]]:
    members = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
        else (annotation,)
    )
    yield from (m for m in members if isinstance(m, type) and issubclass(m, BaseModel))
