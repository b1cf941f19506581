"""What the TikTok emulator holds: audiences per advertiser, their members as hashes, the
changes TikTok has accepted but not yet applied, and uploaded customer files. Plain data; the
emulator guards it with its lock.

TikTok applies audience changes later, not in the call that sends them: a new audience "will
be accessible within one hour" and its size updates "within 24-48 hours" (Treasure Data's
TikTok integration, https://docs.treasuredata.com/int/tiktok-marketing-api-export-integration);
"It takes one hour minimum to see your contacts added in TikTok" (Simon Data,
https://docs.simondata.com/users/docs/tiktok-add-to-custom-audience). An audience that is
still calculating is not usable: ``is_valid`` is false "while calculating or expired"
(/dmp/custom_audience/list/, https://business-api.tiktok.com/portal/docs?id=1739940506015746,
field list mirrored in bububa/tiktok-business ``model/dmp/customaudience/list.go``). So every
accepted change waits in ``Audience.pending`` until the emulator's clock passes its
``ready_at``, and reads show the members applied so far.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from syncd.destinations.tiktok.sandbox.payload import MemberId

__all__ = ["Audience", "Change", "UploadedFile", "gmt"]

#: Customer File updates fail when the audience would hold fewer members: "The APPEND,
#: REMOVE and REPLACE operations will fail if the audience size is less than 1,000 after the
#: operation" (/dmp/custom_audience/update/, tiktok-business-api-sdk
#: ``yml_files/dmp_custom_audience_update.yml``).
MIN_UPDATE_SIZE = 1_000
#: Days an audience lives without ``retention_in_days``, counted from its last change
#: (``retention_in_days`` in ``yml_files/dmp_custom_audience_create.yml``).
DEFAULT_RETENTION_DAYS = 365
_TOO_SMALL = "The audience size after the operation is less than 1,000."


def gmt(epoch: float) -> str:
    """TikTok's time format, "2019-04-14 06:52:56" (GMT)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


@dataclass(frozen=True)
class UploadedFile:
    """A customer file after ``/dmp/custom_audience/file/upload/``: only the advertiser that
    uploaded it may use its ``file_path`` (bububa/tiktok-business
    ``model/dmp/customaudience/file_upload.go``)."""

    path: str
    advertiser: str
    calculate_type: str
    members: frozenset[MemberId]
    invalid_lines: int


@dataclass(frozen=True)
class Change:
    """One accepted change, applied once the clock reaches ``ready_at``.

    ``operation``: "add"/"delete" (streaming mappings) or "CREATE", "APPEND", "REMOVE",
    "REPLACE" (customer files, written to the audience history).
    """

    operation: str
    members: frozenset[MemberId]
    ready_at: float
    invalid_lines: int = 0
    #: A streaming add's users: the ids of each row, which TikTok matches as one user.
    users: tuple[frozenset[MemberId], ...] = ()


@dataclass
class Audience:
    """A custom audience of one advertiser, made by ``/segment/audience/`` ("Partner", the
    type Ads Manager shows for it per Segment's TikTok Audiences docs,
    https://segment.com/docs/connections/destinations/catalog/actions-tiktok-audiences/) or by
    ``/dmp/custom_audience/create/`` ("Customer File Audience")."""

    id: str
    advertiser: str
    name: str
    audience_type: str
    calculate_type: str | None
    created: float  # epoch seconds, wall clock
    retention_days: int | None = None
    members: set[MemberId] = field(default_factory=set)
    pending: deque[Change] = field(default_factory=deque)
    history: list[dict[str, Any]] = field(default_factory=list)
    #: Each id's user, from the row that added it (`people`).
    together: dict[MemberId, frozenset[MemberId]] = field(default_factory=dict)
    error_msg: str = ""
    modified: float = 0.0

    def apply_ready(self, now: float) -> int:
        """Apply the changes whose time has come, oldest first; returns how many."""
        applied = 0
        while self.pending and self.pending[0].ready_at <= now:
            self._apply(self.pending.popleft())
            applied += 1
        return applied

    def apply_all(self) -> int:
        """Apply every pending change now (the test control ``process_pending``)."""
        applied = len(self.pending)
        while self.pending:
            self._apply(self.pending.popleft())
        return applied

    def _apply(self, change: Change) -> None:
        operation, ids = change.operation, change.members
        if operation in ("add", "CREATE", "APPEND"):
            after = self.members | ids
        elif operation in ("delete", "REMOVE"):
            after = self.members - ids
        else:  # REPLACE
            after = set(ids)
        failed = operation in ("APPEND", "REMOVE", "REPLACE") and len(after) < MIN_UPDATE_SIZE
        if failed:
            self.error_msg = _TOO_SMALL
        else:
            self.members = set(after)
            self.together.update((member, user) for user in change.users for member in user)
            self.error_msg = ""
            self.modified = time.time()
        if operation.isupper():  # customer-file operations are logged in the history
            skipped = (
                f"{change.invalid_lines} lines could not be parsed." if change.invalid_lines else ""
            )
            self.history.append(
                {
                    "action": operation,
                    "action_detail": f"{len(ids)} ids",
                    "editor": "open_api",
                    "msg": _TOO_SMALL if failed else skipped,
                    "opt_time": gmt(time.time()),
                }
            )

    def people(self) -> int:
        """TikTok's ``cover_num`` counts matched users, not ids ("matched TikTok users",
        https://business-api.tiktok.com/portal/docs?id=1739940506015746, docs/tiktok.md):
        ids the audience holds that were sent on one mapping row are one user. Counting ids made a
        person sent by email and phone two, and the audience look larger than what syncd
        held. Ids from customer files, which have one id a line, are a user each."""
        parent = {member: member for member in self.members}

        def root(member: MemberId) -> MemberId:
            while parent[member] != member:
                parent[member] = parent[parent[member]]
                member = parent[member]
            return member

        for member in self.members:
            for other in self.together.get(member, ()):
                if other in parent:
                    parent[root(other)] = root(member)
        return len({root(member) for member in self.members})

    def details(self) -> dict[str, Any]:
        """The audience as ``/dmp/custom_audience/list/`` and ``get/`` render it."""
        days = self.retention_days or DEFAULT_RETENTION_DAYS
        since = self.created if self.retention_days else max(self.created, self.modified)
        return {
            "audience_id": self.id,
            "name": self.name,
            "audience_type": self.audience_type,
            "audience_sub_type": "NORMAL",
            "calculate_type": self.calculate_type,
            "cover_num": self.people(),
            "create_time": gmt(self.created),
            "expired_time": gmt(since + days * 86_400),
            "is_creator": True,
            "shared": False,
            "is_valid": not self.pending,
            "is_expiring": False,
            "is_auto_refresh": False,
            "owner_id": self.advertiser,
            "msg": "Calculating" if self.pending else "Ready",
            "error_msg": self.error_msg,
        }
