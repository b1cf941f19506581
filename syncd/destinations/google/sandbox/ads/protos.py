"""The google-ads library's own message classes, by API version, as raw protobuf types.

The emulator decodes requests and encodes responses with exactly the classes the client uses,
so a field the emulator sets is a field the client reads. It works on the raw protobuf
messages under the proto-plus wrappers (``Type.pb()``): they are what travel on the wire, and
setting nested fields by a GAQL path is a plain ``getattr`` walk on them.

Every version the installed library ships is served, imported lazily: importing one version's
``GoogleAdsRow`` costs most of a second, so only the version a client calls is loaded.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

__all__ = ["Protos", "enum_name", "field_descriptor", "installed_versions", "protos", "set_field"]

_VERSION = re.compile(r"v\d+")


@functools.cache
def installed_versions() -> frozenset[str]:
    """The API versions (``v23`` ...) of the installed google-ads library."""
    import google.ads.googleads as package

    return frozenset(
        module.name
        for module in pkgutil.iter_modules(package.__path__)
        if _VERSION.fullmatch(module.name)
    )


def _pb(version: str, module: str, name: str) -> type[Message]:
    wrapper: Any = getattr(
        importlib.import_module(f"google.ads.googleads.{version}.{module}"), name
    )
    cls: type[Message] = wrapper.pb()
    return cls


@dataclass(frozen=True, slots=True)
class Protos:
    """The message classes of one API version that the emulator reads or writes."""

    version: str
    row: type[Message]
    search_request: type[Message]
    search_response: type[Message]
    stream_request: type[Message]
    stream_response: type[Message]
    mutate_user_lists_request: type[Message]
    mutate_user_lists_response: type[Message]
    create_job_request: type[Message]
    create_job_response: type[Message]
    add_operations_request: type[Message]
    add_operations_response: type[Message]
    run_job_request: type[Message]
    job_metadata: type[Message]
    failure: type[Message]


@functools.cache
def protos(version: str) -> Protos:
    """Load one version's classes; raises ``KeyError`` for a version that is not installed."""
    if version not in installed_versions():
        raise KeyError(version)
    search = "services.types.google_ads_service"
    lists = "services.types.user_list_service"
    jobs = "services.types.offline_user_data_job_service"
    return Protos(
        version=version,
        row=_pb(version, search, "GoogleAdsRow"),
        search_request=_pb(version, search, "SearchGoogleAdsRequest"),
        search_response=_pb(version, search, "SearchGoogleAdsResponse"),
        stream_request=_pb(version, search, "SearchGoogleAdsStreamRequest"),
        stream_response=_pb(version, search, "SearchGoogleAdsStreamResponse"),
        mutate_user_lists_request=_pb(version, lists, "MutateUserListsRequest"),
        mutate_user_lists_response=_pb(version, lists, "MutateUserListsResponse"),
        create_job_request=_pb(version, jobs, "CreateOfflineUserDataJobRequest"),
        create_job_response=_pb(version, jobs, "CreateOfflineUserDataJobResponse"),
        add_operations_request=_pb(version, jobs, "AddOfflineUserDataJobOperationsRequest"),
        add_operations_response=_pb(version, jobs, "AddOfflineUserDataJobOperationsResponse"),
        run_job_request=_pb(version, jobs, "RunOfflineUserDataJobRequest"),
        job_metadata=_pb(
            version, "resources.types.offline_user_data_job", "OfflineUserDataJobMetadata"
        ),
        failure=_pb(version, "errors.types.errors", "GoogleAdsFailure"),
    )


def field_descriptor(descriptor: Descriptor, name: str) -> FieldDescriptor | None:
    """A field by its proto name; proto-plus renames ``type`` to ``type_`` in its descriptors."""
    fields = descriptor.fields_by_name
    return fields.get(name) or fields.get(f"{name}_")


def set_field(message: Message, path: str, value: object) -> None:
    """Set ``a.b.c`` on a message; enum values are given by name, as GAQL returns them."""
    *parents, leaf = path.split(".")
    target: Any = message
    for part in parents:
        field = field_descriptor(target.DESCRIPTOR, part)
        if field is None:
            raise KeyError(path)
        target = getattr(target, field.name)
    field = field_descriptor(target.DESCRIPTOR, leaf)
    if field is None:
        raise KeyError(path)
    if field.enum_type is not None and isinstance(value, str):
        value = field.enum_type.values_by_name[value].number
    setattr(target, field.name, value)


def enum_name(message: Message, field_name: str) -> str:
    """The name of an enum field's value (``"CONTACT_INFO"``), for a message read off the wire."""
    field = field_descriptor(message.DESCRIPTOR, field_name)
    if field is None or field.enum_type is None:
        raise KeyError(field_name)
    number = getattr(message, field.name)
    value = field.enum_type.values_by_number.get(number)
    return value.name if value is not None else "UNKNOWN"
