"""Read a YAML file into a validated SyncdConfig, or into every problem it has at once.

A person fixing a config wants all the problems in one pass, each with the file, the line,
the key path and what to write instead (`problems`); this module turns YAML errors into
exactly that, and pydantic's through `explain`. `${VAR}`, `${VAR:-default}` and
`${file:/path}` are expanded before validation, so secrets live in the environment or in
mounted files, never in the YAML.
"""

from __future__ import annotations

import os
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from syncd.config.explain import explain
from syncd.config.models import (
    BigQueryWarehouse,
    DuckDBState,
    DuckDBWarehouse,
    SnowflakeWarehouse,
    SyncdConfig,
)
from syncd.config.problems import ConfigError, ConfigProblem, KeyPath, format_path

_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_SECRET_KEY = "access_token"
_WAREHOUSE_SECRETS = ("password", "token", "private_key_passphrase")
_DSN_PASSWORD = re.compile(r"\bpassword\s*=|://[^/@:]*:[^/@]+@")
_Model = typing.TypeVar("_Model", bound=BaseModel)


def load_config(path: Path | str, environ: Mapping[str, str] | None = None) -> SyncdConfig:
    """Load and validate; relative paths in the result are resolved against the file's folder."""
    path = Path(path)
    environ = os.environ if environ is None else environ
    source = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        problem = ConfigProblem("", f"cannot read the file: {exc.strerror}")
        raise ConfigError(source, [problem]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            source, [ConfigProblem("", f"not UTF-8 (byte {exc.start})", "save the file as UTF-8")]
        ) from None
    raw, lines = _parse_yaml(text, source)
    problems: list[ConfigProblem] = _literal_secrets(raw)
    data = _expand(raw, (), environ, path.parent, problems)
    reported = {problem.path for problem in problems}
    config = None
    try:
        config = SyncdConfig(**data)
    except ValidationError as exc:
        explained = (explain(error, data) for error in exc.errors())
        problems.extend(p for p in explained if p.path not in reported)
    problems.extend(_reference_problems(data))
    if problems:
        located = [
            ConfigProblem(p.path, p.message, p.hint, p.line or _line_of(p.path, lines))
            for p in problems
        ]
        raise ConfigError(source, located)
    assert config is not None
    return _resolve_paths(config, path.parent)


def _parse_yaml(text: str, source: str) -> tuple[dict[str, Any], dict[str, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            source,
            [ConfigProblem("", f"not valid YAML: {problem}", "check indentation and quotes", line)],
        ) from None
    if not isinstance(raw, dict) or not all(isinstance(key, str) for key in raw):
        raise ConfigError(
            source,
            [ConfigProblem("", "the file must be a mapping", "start with `warehouse:`", 1)],
        )
    lines: dict[str, int] = {}
    _index_lines(node, (), lines)
    return raw, lines


def _index_lines(node: yaml.Node | None, path: KeyPath, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, key_node.value)
            lines[format_path(child)] = key_node.start_mark.line + 1
            _index_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[format_path(child)] = item.start_mark.line + 1
            _index_lines(item, child, lines)


def _line_of(path: str, lines: dict[str, int]) -> int | None:
    """The line of the key, or of its nearest parent that is written in the file."""
    while path:
        if path in lines:
            return lines[path]
        path = path[: max(path.rfind("."), path.rfind("["), 0)]
    return None


def _expand(
    value: Any, path: KeyPath, environ: Mapping[str, str], base: Path, problems: list
) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, (*path, str(k)), environ, base, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*path, i), environ, base, problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        reference = match.group(1)
        if reference.startswith("file:"):
            return _read_secret_file(reference[5:], path, base, problems)
        name, has_default, default = reference.partition(":-")
        if name in environ:
            return environ[name]
        if has_default:
            return default
        problems.append(
            ConfigProblem(
                format_path(path),
                f"environment variable {name} is not set",
                f"export {name}=..., or write ${{{name}:-default}}, or ${{file:/path}}",
            )
        )
        return ""

    return _REFERENCE.sub(substitute, value)


def _read_secret_file(name: str, path: KeyPath, base: Path, problems: list) -> str:
    secret_path = base / name
    try:
        return secret_path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        problems.append(
            ConfigProblem(
                format_path(path),
                f"cannot read secret file {name}: {reason}",
                "mount the secret there, or fix the path (relative to the config file)",
            )
        )
        return ""


def _literal_secrets(raw: dict[str, Any]) -> list[ConfigProblem]:
    """A secret written into the YAML ends up in git and in every copy of the file, so
    secrets must be references to the environment or to a mounted file."""
    destinations = raw.get("destinations")
    warehouse = raw.get("warehouse")
    candidates = [
        (
            f"destinations.{name}.{_SECRET_KEY}",
            destination.get(_SECRET_KEY),
            f"{name.upper()}_ACCESS_TOKEN",
        )
        for name, destination in (destinations if isinstance(destinations, dict) else {}).items()
        if isinstance(destination, dict)
    ]
    candidates += [
        (
            f"destinations.{name}.reporting.{_SECRET_KEY}",
            destination["reporting"].get(_SECRET_KEY),
            "GOOGLE_ACCESS_TOKEN",
        )
        for name, destination in (destinations if isinstance(destinations, dict) else {}).items()
        if isinstance(destination, dict) and isinstance(destination.get("reporting"), dict)
    ]
    if isinstance(warehouse, dict):
        candidates += [
            (f"warehouse.{key}", warehouse.get(key), "WAREHOUSE_SECRET")
            for key in _WAREHOUSE_SECRETS
        ]
        dsn = warehouse.get("dsn")
        if isinstance(dsn, str) and _DSN_PASSWORD.search(dsn):
            candidates.append(("warehouse.dsn", dsn, "SYNCD_PG_DSN"))
    return [
        ConfigProblem(
            path,
            "a secret is written in the file",
            f"write ${{{variable}}} or ${{file:/path/to/secret}} and keep the value in the "
            "environment or a secret file; rotate it if this file was shared",
        )
        for path, value, variable in candidates
        if isinstance(value, str) and value and not _REFERENCE.fullmatch(value.strip())
    ]


def _reference_problems(data: dict[str, Any]) -> list[ConfigProblem]:
    """Audiences must name a segment and a destination that exist, each audience once.
    Checked on the raw data so these show up beside any type errors, not after them."""
    segments = data.get("segments") if isinstance(data.get("segments"), dict) else {}
    destinations = data.get("destinations")
    destinations = destinations if isinstance(destinations, dict) else {}
    audiences = data.get("audiences") if isinstance(data.get("audiences"), list) else []
    problems = []
    fed_by: dict[tuple[str, str], int] = {}
    for index, audience in enumerate(audiences):
        if not isinstance(audience, dict):
            continue
        for key, known in (("segment", segments), ("destination", destinations)):
            name = audience.get(key)
            if isinstance(name, str) and name not in known:
                problems.append(
                    ConfigProblem(
                        f"audiences[{index}].{key}",
                        f"no {key} named {name!r}",
                        f"{key}s: {', '.join(sorted(known)) or '(none)'}",
                    )
                )
        network_id = audience.get("audience_id")
        if network_id is None:  # audiences given by name are told apart by their names
            network_id = f"name {audience.get('audience_name')!r}"
        target = (str(audience.get("destination")), str(network_id))
        if target in fed_by:
            problems.append(
                ConfigProblem(
                    f"audiences[{index}].audience_id",
                    f"audience {target[1]} on {target[0]!r} is already fed by "
                    f"audiences[{fed_by[target]}]",
                    "one network audience follows exactly one segment; remove one mapping",
                )
            )
        fed_by.setdefault(target, index)
    return problems


def _resolve_paths(config: SyncdConfig, base: Path) -> SyncdConfig:
    warehouse = config.warehouse
    if isinstance(warehouse, DuckDBWarehouse):
        warehouse = warehouse.model_copy(update={"path": base / warehouse.path})
    elif isinstance(warehouse, BigQueryWarehouse) and warehouse.credentials_file:
        warehouse = warehouse.model_copy(
            update={"credentials_file": base / warehouse.credentials_file}
        )
    elif isinstance(warehouse, SnowflakeWarehouse) and warehouse.private_key_file:
        warehouse = warehouse.model_copy(
            update={"private_key_file": base / warehouse.private_key_file}
        )
    state = config.state
    if isinstance(state, DuckDBState):
        state = state.model_copy(update={"path": base / state.path})
    destinations = {
        name: _resolve_credentials(destination, base)
        for name, destination in config.destinations.items()
    }
    return config.model_copy(
        update={"warehouse": warehouse, "state": state, "destinations": destinations}
    )


def _resolve_credentials(model: _Model, base: Path) -> _Model:
    """`credentials_file` against the config's folder, in a destination and its `reporting`."""
    update: dict[str, Any] = {}
    if getattr(model, "credentials_file", None):
        update["credentials_file"] = base / model.credentials_file  # type: ignore[attr-defined]
    reporting = getattr(model, "reporting", None)
    if reporting is not None:
        update["reporting"] = _resolve_credentials(reporting, base)
    return model.model_copy(update=update) if update else model
