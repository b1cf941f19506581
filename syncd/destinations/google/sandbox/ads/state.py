"""What the Google Ads emulator remembers per customer: user lists, members, jobs and spend.

Members use the Data Manager emulator's shape -- a frozenset of ``("emailAddress", hex)``,
``("phoneNumber", hex)``, ``("address", (given, family, region, postal))`` pairs -- so one
test can compare what reached Google by either path. Jobs are data: the emulator moves them
PENDING (created) -> RUNNING (after ``RunOfflineUserDataJob``) -> SUCCESS (``job_delay``
seconds later, when their staged members are applied to the list). The move happens lazily,
whenever a request or a test helper looks at the account, so no timer threads are needed and
a test that reads a list after the delay sees exactly what a poller would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from syncd.destinations.google.sandbox.data_manager import Address, Member

__all__ = [
    "MAX_LIFE_SPAN",
    "Account",
    "Address",
    "Job",
    "Member",
    "SpendRow",
    "UserList",
    "is_matched",
]

#: The longest ``membership_life_span``, in days: the field "must be between 0 and 540
#: inclusive" (google-ads, google/ads/googleads/v25/resources/types/user_list.py; the same text
#: in every version the library ships). No value means "no expiry" any more.
MIN_LIFE_SPAN, MAX_LIFE_SPAN = 0, 540


@dataclass(slots=True)
class UserList:
    """A CRM-based (Customer Match) user list."""

    id: int
    name: str
    description: str = ""
    upload_key_type: str = "CONTACT_INFO"
    data_source_type: str = "FIRST_PARTY"
    membership_life_span: int = MAX_LIFE_SPAN
    members: set[Member] = field(default_factory=set)


@dataclass(slots=True)
class Job:
    """An ``OfflineUserDataJob`` of type CUSTOMER_MATCH_USER_LIST."""

    id: int
    user_list_id: int
    version: str
    status: str = "PENDING"
    #: "add" or "remove", fixed by the job's first create/remove operation: a job never mixes.
    direction: str | None = None
    remove_all: bool = False
    operations: int = 0
    staged: list[Member] = field(default_factory=list)
    run_at: float | None = None
    operation_name: str = ""
    failure_reason: str = "UNSPECIFIED"


@dataclass(frozen=True, slots=True)
class SpendRow:
    """One day of spend on one audience criterion (a user list): an ad group's, in
    ``ad_group_audience_view``, or, with ``ad_group_id`` None, a campaign's whose list is
    attached at campaign level, in ``campaign_audience_view``.

    CPC campaigns bid TARGET_CPA/MANUAL_CPC/MAXIMIZE_CONVERSIONS..., CPM campaigns
    TARGET_CPM/MANUAL_CPM: ``bidding_strategy_type`` is how syncd tells them apart.
    """

    date: dt.date
    campaign_id: int
    campaign_name: str
    bidding_strategy_type: str
    advertising_channel_type: str
    ad_group_id: int | None
    ad_group_name: str | None
    criterion_id: int
    user_list_id: int
    impressions: int
    clicks: int
    cost_micros: int

    @property
    def key(self) -> tuple[dt.date, int, int, int]:
        """A row per day, campaign, ad group (0 at campaign level) and criterion: adding the
        same key again replaces it."""
        return (self.date, self.campaign_id, self.ad_group_id or 0, self.criterion_id)


@dataclass(slots=True)
class Account:
    """One Google Ads customer (client account)."""

    customer_id: str
    currency_code: str = "USD"
    #: A test account: the only kind a Cloud project with TEST access may call.
    test_account: bool = False
    user_lists: dict[int, UserList] = field(default_factory=dict)
    jobs: dict[int, Job] = field(default_factory=dict)
    spend: dict[tuple[dt.date, int, int, int], SpendRow] = field(default_factory=dict)

    def user_list_name(self, user_list_id: int) -> str:
        return f"customers/{self.customer_id}/userLists/{user_list_id}"

    def user_list_id(self, resource_name: str) -> int | None:
        """The id of one of this account's lists named ``customers/{cid}/userLists/{id}``."""
        tail = resource_name.removeprefix(f"customers/{self.customer_id}/userLists/")
        if tail == resource_name or not tail.isdigit() or int(tail) not in self.user_lists:
            return None
        return int(tail)

    def job_name(self, job_id: int) -> str:
        return f"customers/{self.customer_id}/offlineUserDataJobs/{job_id}"

    def lists_in_flight(self) -> set[int]:
        """User lists with a RUNNING job: a second job on them is a concurrent modification."""
        return {job.user_list_id for job in self.jobs.values() if job.status == "RUNNING"}

    def advance(self, now: float, delay: float) -> None:
        """Finish every RUNNING job whose delay has passed, applying its members."""
        for job in self.jobs.values():
            if job.status != "RUNNING" or job.run_at is None or now < job.run_at + delay:
                continue
            target = self.user_lists.get(job.user_list_id)
            if target is None:  # the list was removed while the job ran
                job.status = "FAILED"
                continue
            if job.remove_all:
                target.members.clear()
            if job.direction == "add":
                target.members.update(job.staged)
            elif job.direction == "remove":
                target.members.difference_update(job.staged)
            job.staged = []
            job.status = "SUCCESS"


def is_matched(member: Member, match_rate_percentage: int) -> bool:
    """Whether Google "matches" a member to a signed-in user: a stable hash under the rate."""
    digest = hashlib.sha256(repr(sorted(member)).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < match_rate_percentage
