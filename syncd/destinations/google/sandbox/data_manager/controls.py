"""The emulator's controls for tests and the demo: user lists made as if in Google Ads,
failed or finished processing, forgotten requests, members, token rotation and revoked
grants.

``DataManagerEmulator`` mixes these in; they read and change its state under its lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from syncd.destinations.google.sandbox.data_manager.errors import ApiError, Violation
from syncd.destinations.google.sandbox.data_manager.members import (
    MEMBER_FIELD,
    PROBLEM,
    Member,
    Parsed,
)
from syncd.destinations.google.sandbox.data_manager.request_status import RequestStatuses
from syncd.destinations.google.sandbox.data_manager.user_lists import UserList, stable_match

__all__ = ["EmulatorControls"]


class EmulatorControls:
    """Public helpers of the Data Manager emulator."""

    _lock: threading.RLock
    _lists: dict[str, UserList]
    _statuses: RequestStatuses
    _failing: int
    _access_token: str | None
    #: Whether ``/token`` refuses every grant (``revoke_grants``); no grant is at first.
    _grants_revoked: bool = False
    #: The percentage of valid members ingests refuse, and why (``refuse_members``).
    _refusing: tuple[int, str] = (0, "")

    def add_user_list(
        self,
        list_id: str,
        *,
        name: str | None = None,
        account_id: str | None = None,
        upload_key_types: Iterable[str] = (),
    ) -> None:
        """Create an (empty) user list, as if it had been made in Google Ads."""
        with self._lock:
            self._lists.setdefault(
                str(list_id),
                UserList(
                    str(list_id),
                    name or f"User list {list_id}",
                    account=account_id,
                    upload_key_types=tuple(upload_key_types),
                ),
            )

    def fail_processing(self, times: int = 1) -> None:
        """Make the next ``times`` ingests or removals fail after acceptance: each is answered
        200 with a request id and applied nowhere, and ``requestStatus:retrieve`` reports it
        ``FAILED`` for every destination, its members counted under
        ``PROCESSING_ERROR_REASON_INTERNAL_ERROR`` -- the asynchronous failure a client sees
        only by polling. Validate-only requests and refused requests do not count."""
        with self._lock:
            self._failing += times

    def finish_processing(self) -> None:
        """Every request accepted so far has its final status at its next poll: the hours
        Google may take, passed between two passes."""
        with self._lock:
            self._statuses.finish()

    def forget_requests(self) -> None:
        """Forget every request accepted so far: ``requestStatus:retrieve`` answers 404."""
        with self._lock:
            self._statuses.forget()

    def members(self, list_id: str) -> set[Member]:
        """A copy of a user list's members; raises ``KeyError`` for an unknown list."""
        with self._lock:
            return set(self._lists[str(list_id)].members)

    def add_members(self, list_id: str, members: Iterable[Member]) -> None:
        """Add members to a list as another uploader would (a second tool, someone in Google
        Ads): what syncd holds no longer says what the list has."""
        with self._lock:
            self._lists[str(list_id)].members.update(members)

    def remove_members(self, list_id: str, members: Iterable[Member]) -> None:
        with self._lock:
            self._lists[str(list_id)].members.difference_update(members)

    def user_lists(self, account_id: str | None = None) -> dict[str, str]:
        """The lists an account sees (all without ``account_id``): id -> display name."""
        with self._lock:
            return {
                i: u.display_name
                for i, u in self._lists.items()
                if account_id is None or u.account in (None, account_id)
            }

    def set_access_token(self, token: str | None) -> None:
        """Accept only this token from now on (a rotation); ``/token`` hands it out."""
        with self._lock:
            self._access_token = token

    def revoke_grants(self, revoked: bool = True) -> None:
        """Make ``/token`` refuse every refresh token and service-account key with
        ``invalid_grant`` ("Token has been expired or revoked."), as Google does for a
        revoked grant or a Testing app's 7-day-old refresh token; False honours them again."""
        with self._lock:
            self._grants_revoked = revoked

    def refuse_members(self, percentage: int, reason: str = "INVALID_FORMAT") -> None:
        """Make ingests refuse ``percentage`` of their valid members (a stable hash decides
        which, the same members every time) with one field violation each, as Google refuses
        members it finds malformed: the request fails with INVALID_ARGUMENT and applies
        nothing. 0 stops it."""
        if not 0 <= percentage <= 100:
            raise ValueError("percentage is between 0 and 100")
        with self._lock:
            self._refusing = (percentage, reason)

    def _refuse_some(self, parsed: list[Parsed]) -> None:
        """Raise the refusal ``refuse_members`` asks for, if any of ``parsed`` falls in it
        (members of the highest hashes: those list sizes count as matched have the lowest)."""
        with self._lock:
            percentage, reason = self._refusing
        refused = [
            Violation(MEMBER_FIELD.format(index), PROBLEM, reason)
            for index, member in enumerate(parsed)
            if percentage and not stable_match(member.member, 100 - percentage)
        ]
        if refused:
            raise ApiError(PROBLEM, reason=reason, violations=refused)
