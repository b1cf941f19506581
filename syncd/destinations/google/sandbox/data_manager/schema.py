"""Request bodies checked against Google's own message types, as Google's front-end does.

Google's HTTP front-end reads a JSON body into the method's proto message before the API sees
it, and refuses every name the message does not have, at any depth. The message types here are
Google's: the ``google.ads.datamanager_v1`` package (``google-ads-datamanager``, installed with
the test extra). Without that package only the top-level names of the members methods are
checked (``TOP_LEVEL``), which is what the sandbox can know on its own.

The refusal is the front-end's, copied from Google APIs' answers to unknown JSON names (for
example the Display & Video 360 API's, quoted in
https://github.com/google-marketing-solutions/dv360-api-appsscript-samples/issues/7):
``Invalid JSON payload received. Unknown name "x" at 'path': Cannot find field.``, 400
INVALID_ARGUMENT, with one ``BadRequest`` field violation per unknown name (its ``field`` the
proto path, left out at the top level), and no ``ErrorInfo``.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from syncd.destinations.google.sandbox.data_manager.errors import ApiError, Violation

__all__ = ["MESSAGES", "TOP_LEVEL", "check_names"]

#: The proto message each body is read into, by operation.
MESSAGES = {
    "ingest": "IngestAudienceMembersRequest",
    "remove": "RemoveAudienceMembersRequest",
    "user_list": "UserList",
}
_COMMON = frozenset(
    {"destinations", "audienceMembers", "validateOnly", "encoding", "encryptionInfo"}
)
#: Top-level JSON names of the members methods (google/ads/datamanager/v1/ingestion_service.proto).
TOP_LEVEL = {"ingest": _COMMON | {"consent", "termsOfService"}, "remove": _COMMON}


def check_names(operation: str, body: dict[str, Any]) -> None:
    """Raise the front-end's refusal if the body holds a name its message does not have."""
    descriptor = _descriptor(operation)
    if descriptor is not None:
        unknown = _unknown(body, descriptor, "")
    elif operation in TOP_LEVEL:
        unknown = [(name, "") for name in body if name not in TOP_LEVEL[operation]]
    else:
        unknown = []
    if not unknown:
        return
    lines = [_line(name, path) for name, path in unknown]
    raise ApiError(
        "\n".join(lines),
        violations=[
            Violation(path, line, "") for (_, path), line in zip(unknown, lines, strict=True)
        ],
        error_info=False,
    )


def _descriptor(operation: str) -> Any:
    try:
        import google.ads.datamanager_v1 as types
    except ImportError:  # the package comes with the test extra
        return None
    name = MESSAGES.get(operation)
    return getattr(types, name).pb().DESCRIPTOR if name else None


def _unknown(value: Any, descriptor: Any, path: str) -> list[tuple[str, str]]:
    """(name, proto path) of every name in ``value`` that ``descriptor`` lacks, depth first.
    The path is written only for what is found: a body of 10,000 members is read at every
    request, and naming each element's path cost most of the emulator's time."""
    return [(name, _joined(path, inner)) for name, inner in _unknown_within(value, descriptor)]


def _unknown_within(value: Any, descriptor: Any) -> list[tuple[str, str]]:
    """`_unknown`, with paths relative to ``value``."""
    if not isinstance(value, dict):
        return []  # a wrong type is the API's to refuse, with its own reason
    names, messages = _shape(descriptor)
    unknown = [(name, "") for name in value if name not in names]
    for name in value.keys() & messages.keys():
        message, proto_name, repeated = messages[name]
        item = value[name]
        if not repeated:
            unknown += [(n, _joined(proto_name, p)) for n, p in _unknown_within(item, message)]
            continue
        for index, element in enumerate(item if isinstance(item, list) else []):
            found = _unknown_within(element, message)
            unknown += [(n, _joined(f"{proto_name}[{index}]", p)) for n, p in found]
    return unknown


@functools.cache
def _shape(descriptor: Any) -> tuple[frozenset[str], dict[str, tuple[Any, str, bool]]]:
    """A message's JSON and proto field names, and its fields that are messages with names
    of their own (scalars, enums and well-known types such as Duration "86400s" have none):
    name -> (message, proto name, repeated)."""
    names = frozenset(f.json_name for f in descriptor.fields) | {f.name for f in descriptor.fields}
    messages = {
        name: (f.message_type, f.name, f.is_repeated)
        for f in descriptor.fields
        if f.message_type is not None
        and not f.message_type.full_name.startswith("google.protobuf.")
        for name in {f.json_name, f.name}
    }
    return names, messages


def _joined(path: str, inner: str) -> str:
    return f"{path}.{inner}" if path and inner else path or inner


def _line(name: str, path: str) -> str:
    shown = name if re.fullmatch(r"[A-Za-z0-9_]{1,64}", name) else "?"
    where = f" at '{path}'" if path else ""
    return f'Invalid JSON payload received. Unknown name "{shown}"{where}: Cannot find field.'
