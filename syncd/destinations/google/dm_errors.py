"""Data Manager API errors -> what the runner does, decided here and nowhere else.

The policy is data: ``REASONS`` (the ``ErrorInfo.reason`` of Google's error, which names the
specific problem) is read first, then ``STATUSES`` (the canonical ``google.rpc`` status),
then the HTTP status. Three shapes need more than a table row:

* ``RESOURCE_EXHAUSTED`` is the per-minute budget (RATE_LIMITED, waiting as long as
  ``RetryInfo.retryDelay`` or ``Retry-After`` says) unless the quota named is a daily one:
  then ``QuotaExhausted`` stops the run cleanly, and the next run resumes;
* ``INVALID_ARGUMENT`` whose field violations all name
  ``audience_members.audience_members[i]`` is a refusal of those members: ``MemberErrors``
  with their rows in the batch, so the caller quarantines exactly them and sends the rest;
* everything else becomes a ``DestinationError`` of the row's class, whose message says what
  to fix. Messages carry field paths and reasons, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from syncd.destinations.base import (
    DestinationError,
    ErrorClass,
    MemberErrors,
    QuotaExhausted,
    retry_after_seconds,
)

__all__ = ["REASONS", "STATUSES", "Rule", "classify", "duration_seconds"]

_TYPE = "type.googleapis.com/google.rpc."
#: A field violation naming one audience member, as Google writes it: the request field, then
#: the member's index, e.g. ``audience_members.audience_members[0].user_data.user_identifiers``
#: (the bodies in the "Send audience members" quickstart,
#: https://developers.google.com/data-manager/api/get-started/quickstart/send-audience-members).
_MEMBER_FIELD = re.compile(r"^audience_members\.audience_members\[(\d+)\]")
_DAILY = re.compile(r"per ?day", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


@dataclass(frozen=True)
class Rule:
    """What to do about an error, and what it means for the person reading the log."""

    error_class: ErrorClass
    meaning: str


_FAIL, _RETRY = ErrorClass.FAIL_AUDIENCE, ErrorClass.RETRY

#: ``ErrorInfo.reason`` -> rule; more specific than the status, so read first.
REASONS: dict[str, Rule] = {
    "EU_POLITICAL_ADVERTISING_DECLARATION_REQUIRED": Rule(
        _FAIL,
        "the Google Ads account has not declared whether it runs EU political ads, which "
        "Google requires since 2026-04-01: declare it in Google Ads (Admin > Account "
        "settings > EU political ads), then sync again",
    ),
    "TERMS_AND_CONDITIONS_NOT_SIGNED": Rule(
        _FAIL,
        "the Customer Match terms are not accepted in the operating account: accept them in "
        "Google Ads (Tools > Audience manager)",
    ),
    "INVALID_USER_LIST_ID": Rule(
        _FAIL,
        "no such user list in the operating account: check audience_id and operating_account_id",
    ),
    "INVALID_USER_LIST_TYPE": Rule(
        _FAIL,
        "the user list does not take these members: its upload key types (CONTACT_ID for "
        "emails, phones and addresses; USER_ID for user IDs) do not include theirs",
    ),
    "MULTIPLE_DATA_TYPES_NOT_ALLOWED": Rule(
        _FAIL, "a request mixed member data types (a syncd bug: it splits them by type)"
    ),
    "ALREADY_EXISTS": Rule(_FAIL, "a user list with this name already exists"),
}

#: ``google.rpc`` status -> rule, for errors whose reason is not in ``REASONS``.
STATUSES: dict[str, Rule] = {
    "UNAUTHENTICATED": Rule(
        _FAIL,
        "the credentials were refused (after one refresh, for credentials_file): renew "
        "GOOGLE_ACCESS_TOKEN, or check the key in credentials_file",
    ),
    "PERMISSION_DENIED": Rule(
        _FAIL,
        "permission denied: the service account (or user) of the credentials must be a user "
        "of the operating account in Google Ads (Admin > Access and security); when that "
        "access comes through a manager (MCC) account, set login_account_id to the manager",
    ),
    "NOT_FOUND": Rule(_FAIL, "not found in the operating account"),
    "INVALID_ARGUMENT": Rule(_FAIL, "the request was refused as invalid"),
    "FAILED_PRECONDITION": Rule(_FAIL, "the account is not ready for this request"),
    "RESOURCE_EXHAUSTED": Rule(ErrorClass.RATE_LIMITED, "rate limit reached"),
    "ABORTED": Rule(_RETRY, "the request was aborted by a concurrent change"),
    "UNAVAILABLE": Rule(_RETRY, "the service is temporarily unavailable"),
    "INTERNAL": Rule(_RETRY, "Google reported an internal error"),
    "DEADLINE_EXCEEDED": Rule(_RETRY, "the request timed out at Google"),
}

_HTTP = {
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
}


def duration_seconds(value: Any) -> float | None:
    """A ``google.protobuf.Duration`` in JSON ("12s", "0.5s") in seconds."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    return float(match.group(1)) if match else None


def _details(error: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    details = error.get("details")
    if not isinstance(details, list):
        return []
    return [d for d in details if isinstance(d, dict) and d.get("@type") == f"{_TYPE}{kind}"]


def _is_daily(error: dict[str, Any]) -> bool:
    names = [
        str(info.get("metadata", {}).get("quota_limit", ""))
        for info in _details(error, "ErrorInfo")
    ]
    for failure in _details(error, "QuotaFailure"):
        for violation in failure.get("violations") or []:
            if isinstance(violation, dict):
                names.append(str(violation.get("description", "")))
    return any(_DAILY.search(name) for name in names)


def _retry_after(error: dict[str, Any], response: httpx.Response) -> float | None:
    for info in _details(error, "RetryInfo"):
        seconds = duration_seconds(info.get("retryDelay"))
        if seconds is not None:
            return seconds
    return retry_after_seconds(response.headers.get("Retry-After"))


def _member_errors(
    error: dict[str, Any], rows: Sequence[int] | None, what: str
) -> MemberErrors | None:
    """MemberErrors when every field violation names an audience member of this request."""
    if rows is None:
        return None
    violations = [v for d in _details(error, "BadRequest") for v in d.get("fieldViolations") or []]
    reasons: dict[int, str] = {}
    for violation in violations:
        match = _MEMBER_FIELD.match(str(violation.get("field", "")))
        if match is None or int(match.group(1)) >= len(rows):
            return None
        reasons.setdefault(rows[int(match.group(1))], str(violation.get("reason") or "INVALID"))
    if not reasons:
        return None
    counts: dict[str, int] = {}
    for reason in reasons.values():
        counts[reason] = counts.get(reason, 0) + 1
    summary = ", ".join(f"{reason} x{n}" for reason, n in sorted(counts.items()))
    return MemberErrors(
        reasons,
        f"{what}: Google refused {len(reasons)} member(s) ({summary}); nothing in the request "
        "was applied: quarantine those rows and send the rest",
    )


def classify(
    response: httpx.Response, what: str, member_rows: Sequence[int] | None = None
) -> DestinationError:
    """The error for a failed response. ``member_rows[i]`` is the batch row of the request's
    ``audienceMembers[i]``; without it, member refusals are plain errors."""
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
    except ValueError:
        error = None
    error = error if isinstance(error, dict) else {}
    status = str(error.get("status") or _HTTP.get(response.status_code, ""))
    if response.status_code == 429:
        status = "RESOURCE_EXHAUSTED"
    message = str(error.get("message") or "")
    suffix = f" ({message})" if message else ""
    if status == "RESOURCE_EXHAUSTED":
        if _is_daily(error):
            return QuotaExhausted(
                f"{what}: the Data Manager API's daily request quota is used up; this run "
                "stops cleanly here and the next run resumes where it stopped" + suffix
            )
        return DestinationError(
            ErrorClass.RATE_LIMITED,
            f"{what}: {STATUSES[status].meaning}" + suffix,
            retry_after=_retry_after(error, response),
        )
    if status == "INVALID_ARGUMENT":
        members = _member_errors(error, member_rows, what)
        if members is not None:
            return members
    reasons = [str(info.get("reason", "")) for info in _details(error, "ErrorInfo")]
    reasons += [
        str(violation.get("reason", ""))
        for detail in _details(error, "BadRequest")
        for violation in detail.get("fieldViolations") or []
        if isinstance(violation, dict)
    ]
    rule = next((REASONS[r] for r in reasons if r in REASONS), None) or STATUSES.get(status)
    if rule is None:
        if response.status_code >= 500:
            rule = Rule(_RETRY, f"server error (HTTP {response.status_code})")
        else:
            rule = Rule(_FAIL, f"refused (HTTP {response.status_code})")
    return DestinationError(
        rule.error_class,
        f"{what}: {rule.meaning}" + suffix,
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
    )
