"""``UserListService.MutateUserLists``: create (and remove) CRM-based Customer Match lists.

syncd creates one list per audience: a name unique in the account (``NAME_ALREADY_USED``
otherwise), ``crm_based_user_list`` with an upload key type and first-party data, and a
membership life span of 0-540 days (``RangeError`` TOO_LOW / TOO_HIGH outside). A list created
without one gets 540, the maximum: the Data Manager API documents that default for the same
lists (https://developers.google.com/data-manager/api/devguides/audiences/google-ads/
customer-match/create-audience); the Google Ads API's docs give none. Results come back in
operation order as ``customers/{cid}/userLists/{id}``; with ``partial_failure`` a failed
operation keeps an empty result and its error is reported by index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from syncd.destinations.google.sandbox.ads.errors import AdsError, ErrorDetail, raise_or_partial
from syncd.destinations.google.sandbox.ads.protos import Protos, enum_name
from syncd.destinations.google.sandbox.ads.state import (
    MAX_LIFE_SPAN,
    MIN_LIFE_SPAN,
    Account,
    UserList,
)

__all__ = ["mutate_user_lists"]


def _check_create(create: Any, taken: set[str]) -> list[ErrorDetail]:
    """The API's objections to one create operation (none when it is valid)."""
    errors = []
    name = create.name.strip()
    if not name:
        errors.append(
            ErrorDetail("field_error", "REQUIRED", "The name is required.", (("name", None),))
        )
    elif name in taken:
        errors.append(
            ErrorDetail(
                "user_list_error",
                "NAME_ALREADY_USED",
                "Name is already being used for another user list for the account.",
                (("name", None),),
            )
        )
    kind = create.WhichOneof("user_list")
    if kind != "crm_based_user_list":
        code = "CONCRETE_TYPE_REQUIRED" if kind is None else "USER_LIST_MUTATE_NOT_SUPPORTED"
        errors.append(
            ErrorDetail(
                "user_list_error", code, "The sandbox creates CRM-based (Customer Match) lists."
            )
        )
        return errors
    crm = create.crm_based_user_list
    if enum_name(crm, "upload_key_type") == "UNSPECIFIED":
        errors.append(
            ErrorDetail(
                "field_error",
                "REQUIRED",
                "The upload key type is required.",
                (("crm_based_user_list", None), ("upload_key_type", None)),
            )
        )
    if enum_name(crm, "data_source_type") not in ("UNSPECIFIED", "FIRST_PARTY"):
        errors.append(
            ErrorDetail(
                "user_list_error",
                "ADVERTISER_NOT_ON_ALLOWLIST_FOR_USING_UPLOADED_DATA",
                "Only first-party data can be uploaded by this advertiser.",
                (("crm_based_user_list", None), ("data_source_type", None)),
            )
        )
    if create.HasField("membership_life_span"):
        span = create.membership_life_span
        code = "TOO_LOW" if span < MIN_LIFE_SPAN else "TOO_HIGH" if span > MAX_LIFE_SPAN else ""
        if code:
            errors.append(
                ErrorDetail(
                    "range_error",
                    code,
                    f"Membership life span must be between {MIN_LIFE_SPAN} and "
                    f"{MAX_LIFE_SPAN} days inclusive.",
                    (("membership_life_span", None),),
                )
            )
    return errors


def mutate_user_lists(
    messages: Protos,
    account: Account,
    request: Any,
    request_id: str,
    new_id: Callable[[], int],
) -> tuple[Any, int]:
    """Create (and remove) CRM-based user lists; returns the response and operation count."""
    count = len(request.operations)
    if not count:
        raise AdsError(
            ErrorDetail(
                "request_error", "OPERATION_REQUIRED", "At least one operation is required."
            )
        )
    taken = {user_list.name for user_list in account.user_lists.values()}
    removed: set[int] = set()
    errors: list[ErrorDetail] = []
    accepted: list[tuple[int, Callable[[], str]]] = []
    for index, operation in enumerate(request.operations):
        kind = operation.WhichOneof("operation")
        found: list[ErrorDetail] = []
        if kind == "create":
            create = operation.create
            found = [e.at(("create", None)) for e in _check_create(create, taken)]
            if not found:
                taken.add(create.name.strip())
                accepted.append((index, _creator(account, create, new_id)))
        elif kind == "remove":
            list_id = account.user_list_id(operation.remove)
            if list_id is None or list_id in removed:
                found = [
                    ErrorDetail(
                        "mutate_error",
                        "RESOURCE_NOT_FOUND",
                        "Resource was not found.",
                        (("remove", None),),
                    )
                ]
            else:
                removed.add(list_id)
                accepted.append((index, _remover(account, list_id)))
        else:
            found = [
                ErrorDetail(
                    "mutate_error",
                    "MUTATE_NOT_ALLOWED",
                    "The sandbox emulates user list create and remove operations only.",
                )
            ]
        errors.extend(error.at(("operations", index)) for error in found)
    partial_failure = raise_or_partial(
        messages.version, errors, request.partial_failure, request_id, count
    )
    response: Any = messages.mutate_user_lists_response()
    names = {} if request.validate_only else {index: apply() for index, apply in accepted}
    for index in range(count):
        result = response.results.add()  # a failed operation keeps an empty result
        if index in names:
            result.resource_name = names[index]
    if partial_failure is not None:
        response.partial_failure_error.CopyFrom(partial_failure)
    return response, count


def _creator(account: Account, create: Any, new_id: Callable[[], int]) -> Callable[[], str]:
    def apply() -> str:
        crm = create.crm_based_user_list
        data_source = enum_name(crm, "data_source_type")
        user_list = UserList(
            id=new_id(),
            name=create.name.strip(),
            description=create.description,
            upload_key_type=enum_name(crm, "upload_key_type"),
            data_source_type="FIRST_PARTY" if data_source == "UNSPECIFIED" else data_source,
            membership_life_span=(
                create.membership_life_span
                if create.HasField("membership_life_span")
                else MAX_LIFE_SPAN
            ),
        )
        account.user_lists[user_list.id] = user_list
        return account.user_list_name(user_list.id)

    return apply


def _remover(account: Account, list_id: int) -> Callable[[], str]:
    def apply() -> str:
        del account.user_lists[list_id]
        return account.user_list_name(list_id)

    return apply
