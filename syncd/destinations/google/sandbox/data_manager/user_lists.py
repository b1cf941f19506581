"""The ``userLists`` resource of Data Manager v1.5: Customer Match lists, managed by the API.

``accountTypes/GOOGLE_ADS/accounts/{account}/userLists/{id}`` holds a ``displayName`` (unique
in the account: ``ALREADY_EXISTS`` otherwise), a ``description``, a ``membershipDuration``
(whole days, at most 540), a ``membershipStatus`` and ``ingestedUserListInfo``, whose
``uploadKeyTypes`` (CONTACT_ID, USER_ID, ...) are immutable and decide which audience members
the list takes. ``sizeInfo`` and ``contactIdInfo.matchRatePercentage`` are output only. The
list method pages (``pageSize`` up to 1000, default 50, ``nextPageToken``) and filters with
the API's syntax restricted to ``field = value`` / ``field != value`` joined by ``AND``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from syncd.destinations.google.sandbox.data_manager.errors import (
    ApiError,
    check_enum,
    require,
    snake,
)
from syncd.destinations.google.sandbox.data_manager.members import Member

__all__ = [
    "MAX_DURATION_DAYS",
    "UserList",
    "apply_patch",
    "matches_filter",
    "new_user_list",
    "page",
    "stable_match",
]

MAX_DURATION_DAYS = 540
_DAY = 86_400
UPLOAD_KEY_TYPES = frozenset({"CONTACT_ID", "MOBILE_ID", "USER_ID", "PAIR_ID", "PSEUDONYMOUS_ID"})
_STATUSES = frozenset({"OPEN", "CLOSED"})
_DATA_SOURCES = frozenset(
    {
        "DATA_SOURCE_TYPE_FIRST_PARTY",
        "DATA_SOURCE_TYPE_THIRD_PARTY_CREDIT_BUREAU",
        "DATA_SOURCE_TYPE_THIRD_PARTY_VOTER_FILE",
        "DATA_SOURCE_TYPE_THIRD_PARTY_PARTNER_DATA",
    }
)
_MUTABLE = {
    "displayName": "displayName",
    "description": "description",
    "membershipDuration": "membershipDuration",
    "membershipStatus": "membershipStatus",
}
_FILTER = re.compile(r'\s*([A-Za-z_.]+)\s*(!=|=)\s*("(?:[^"\\]|\\.)*"|[^\s"]+)\s*')
_FILTER_FIELDS = {
    "id": "id",
    "display_name": "displayName",
    "displayname": "displayName",
    "description": "description",
    "membership_status": "membershipStatus",
    "membershipstatus": "membershipStatus",
}
#: Members counted one by one for a list's size; larger lists are estimated from a sample.
SIZE_SAMPLE = 100_000
_MAX_PAGE = 1000
_DEFAULT_PAGE = 50


@dataclass(slots=True)
class UserList:
    """One list; ``account`` None means it was made outside the API (any account sees it)."""

    id: str
    display_name: str
    account: str | None = None
    description: str = ""
    membership_duration: str = f"{MAX_DURATION_DAYS * _DAY}s"
    membership_status: str = "OPEN"
    upload_key_types: tuple[str, ...] = ()
    data_source_type: str = "DATA_SOURCE_TYPE_FIRST_PARTY"
    members: set[Member] = field(default_factory=set)

    def resource(self, account: str, match_rate: int) -> dict[str, Any]:
        """The resource's JSON, as ``get`` returns it (int64 counts as strings). Sizes are
        exact up to SIZE_SAMPLE members; above, estimated from that many of them, as
        Google's own sizes are estimates (a 10M-member list would take seconds)."""
        matched = sum(
            1
            for member in itertools.islice(self.members, SIZE_SAMPLE)
            if stable_match(member, match_rate)
        )
        if len(self.members) > SIZE_SAMPLE:
            matched = round(matched * len(self.members) / SIZE_SAMPLE)
        info: dict[str, Any] = {"uploadKeyTypes": list(self.upload_key_types or ("CONTACT_ID",))}
        contact: dict[str, Any] = {"dataSourceType": self.data_source_type}
        if self.members:  # unset until something was uploaded, as in Google Ads
            contact["matchRatePercentage"] = round(100 * matched / len(self.members))
        info["contactIdInfo"] = contact
        return {
            "name": f"accountTypes/GOOGLE_ADS/accounts/{account}/userLists/{self.id}",
            "id": self.id,
            "readOnly": False,
            "displayName": self.display_name,
            "description": self.description,
            "membershipDuration": self.membership_duration,
            "membershipStatus": self.membership_status,
            "accessReason": "OWNED",
            "accountAccessStatus": "ENABLED",
            "sizeInfo": {
                "displayNetworkMembersCount": str(matched),
                "searchNetworkMembersCount": str(matched),
            },
            "targetNetworkInfo": {"eligibleForDisplay": True, "eligibleForSearch": True},
            "ingestedUserListInfo": info,
        }


def stable_match(member: Member, match_rate: int) -> bool:
    """Whether Google "matches" a member to a signed-in user: a stable hash under the rate."""
    digest = hashlib.sha256(repr(sorted(member, key=repr)).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < match_rate


def _duration(value: Any) -> str:
    value = require(value, str, "membership_duration")
    match = re.fullmatch(r"(\d+)s", value)
    seconds = int(match.group(1)) if match else -1
    if seconds < 0 or seconds % _DAY or seconds > MAX_DURATION_DAYS * _DAY:
        raise ApiError(
            f"Membership duration must be whole days (multiples of 86400s), at most "
            f"{MAX_DURATION_DAYS} days.",
            reason="INVALID_ARGUMENT",
            field="membership_duration",
        )
    return value


def new_user_list(body: Any, list_id: str, account: str, taken: set[str]) -> UserList:
    """Validate a create request's body and build the list (not yet stored)."""
    body = require(body, dict, "user_list")
    name = require(body.get("displayName"), str, "display_name").strip()
    if name in taken:
        raise ApiError(
            "A user list with this display name already exists in the account.",
            reason="ALREADY_EXISTS",
            status=409,
            grpc_status="ALREADY_EXISTS",
        )
    info = require(body.get("ingestedUserListInfo"), dict, "ingested_user_list_info")
    key_field = "ingested_user_list_info.upload_key_types"
    key_types = require(info.get("uploadKeyTypes"), list, key_field)
    for index, key_type in enumerate(key_types):
        check_enum(key_type, UPLOAD_KEY_TYPES, f"{key_field}[{index}]")
    source = "DATA_SOURCE_TYPE_FIRST_PARTY"
    contact = info.get("contactIdInfo")
    if isinstance(contact, dict) and "dataSourceType" in contact:
        source = contact["dataSourceType"]
        check_enum(
            source, _DATA_SOURCES, "ingested_user_list_info.contact_id_info.data_source_type"
        )
    user_list = UserList(
        id=list_id,
        display_name=name,
        account=account,
        description=str(body.get("description", "")),
        upload_key_types=tuple(dict.fromkeys(key_types)),
        data_source_type=source,
    )
    if "membershipDuration" in body:
        user_list.membership_duration = _duration(body["membershipDuration"])
    if "membershipStatus" in body:
        check_enum(body["membershipStatus"], _STATUSES, "membership_status")
        user_list.membership_status = body["membershipStatus"]
    return user_list


def apply_patch(user_list: UserList, body: Any, mask: str | None, taken: set[str]) -> None:
    """Apply a patch: the ``updateMask`` fields, or every mutable field the body holds."""
    body = require(body, dict, "user_list")
    if mask:
        paths = [_camel(path.strip()) for path in mask.split(",") if path.strip()]
    else:
        paths = [name for name in _MUTABLE if name in body]
    for path in paths:
        if path not in _MUTABLE:
            raise ApiError(
                f"The field {snake(path)} cannot be updated.",
                reason="INVALID_ARGUMENT",
                field="update_mask",
            )
    changes: dict[str, Any] = {}
    for path in paths:
        value = body.get(path)
        if path == "displayName":
            value = require(value, str, "display_name").strip()
            if value != user_list.display_name and value in taken:
                raise ApiError(
                    "A user list with this display name already exists in the account.",
                    reason="ALREADY_EXISTS",
                    status=409,
                    grpc_status="ALREADY_EXISTS",
                )
        elif path == "membershipDuration":
            value = _duration(value)
        elif path == "membershipStatus":
            check_enum(value, _STATUSES, "membership_status")
        else:
            value = "" if value is None else str(value)
        changes[path] = value
    user_list.display_name = changes.get("displayName", user_list.display_name)
    user_list.description = changes.get("description", user_list.description)
    user_list.membership_duration = changes.get("membershipDuration", user_list.membership_duration)
    user_list.membership_status = changes.get("membershipStatus", user_list.membership_status)


def _camel(path: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), path)


def _conditions(text: str) -> list[tuple[str, str, str]]:
    conditions = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        match = _FILTER.fullmatch(part)
        name = _FILTER_FIELDS.get(match.group(1).lower()) if match else None
        if match is None or name is None:
            raise ApiError(
                "Invalid filter: use field = value or field != value joined by AND, on id, "
                "display_name, description or membership_status.",
                reason="INVALID_ARGUMENT",
                field="filter",
            )
        value = match.group(3)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        conditions.append((name, match.group(2), value))
    return conditions


def matches_filter(user_list: UserList, text: str | None) -> bool:
    """Whether a list passes a ``filter`` (raises ``ApiError`` for one the sandbox can't read)."""
    if not text or not text.strip():
        return True
    values = {
        "id": user_list.id,
        "displayName": user_list.display_name,
        "description": user_list.description,
        "membershipStatus": user_list.membership_status,
    }
    return all((values[name] == value) == (op == "=") for name, op, value in _conditions(text))


def _token(scope: str, offset: int) -> str:
    digest = hashlib.sha256(scope.encode()).hexdigest()[:12]
    return base64.urlsafe_b64encode(f"{digest}:{offset}".encode()).decode()


def page(
    lists: list[UserList], scope: str, page_size: str | None, page_token: str | None
) -> tuple[list[UserList], str | None]:
    """One page of ``lists`` and the next page's token (None on the last page).

    ``scope`` is the account and filter: a token only works with the call that made it.
    """
    try:
        size = int(page_size) if page_size else _DEFAULT_PAGE
    except ValueError:
        size = -1
    if size < 0:
        raise ApiError("page_size must be a positive integer.", field="page_size")
    size = min(size or _DEFAULT_PAGE, _MAX_PAGE)
    offset = 0
    if page_token:
        try:
            offset = int(base64.urlsafe_b64decode(page_token.encode()).decode().rpartition(":")[2])
        except ValueError:
            offset = -1
        if offset < 0 or _token(scope, offset) != page_token:
            raise ApiError(
                "The page token is not valid for this request.",
                reason="INVALID_ARGUMENT",
                field="page_token",
            )
    chunk = lists[offset : offset + size]
    more = offset + size < len(lists)
    return chunk, _token(scope, offset + size) if more else None
