"""TikTok custom audiences through the streaming (segment) API of the TikTok API for
Business, over httpx.

The streaming API is the one for an incremental sync: ``/segment/mapping/`` adds or deletes
hashed ids member by member, with no file to upload and no 1,000-member floor on each change,
which the Customer File API puts on every APPEND and REMOVE (docs/tiktok.md, section 1). The
official SDK does not cover these endpoints, so this client speaks them itself.

TikTok acknowledges receipt only: there is no per-row result, no count and no request to
poll, and a change shows in the audience an hour or more later (docs/tiktok.md, section 6).
A push never waits or retries by itself: the pipeline's pacer and retry policy do, on the
classes ``errors`` gives every refusal.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pyarrow as pa

from syncd.destinations.base import MATCHED, Client, DestinationError, ErrorClass, PushResult
from syncd.destinations.tiktok.capabilities import CAPABILITIES
from syncd.destinations.tiktok.errors import data_of
from syncd.destinations.tiktok.mapping import mapping_body
from syncd.destinations.tiktok.settings import TikTokDestination

__all__ = ["NAME_LIMIT", "STREAMING_TYPE", "TikTokAudiences"]

#: "names over 70 characters will be truncated to 67 characters with '...' appended"
#: (/segment/audience/, https://business-api.tiktok.com/portal/docs?id=1739940583739393, as
#: segmentio/action-destinations tiktok-audiences ``properties.ts`` quotes it).
NAME_LIMIT = 70
#: ``audience_type`` of an audience made by /segment/audience/, as the emulator and Ads
#: Manager ("Partner audience", Segment's TikTok Audiences docs) show it.
STREAMING_TYPE = "Partner"
#: Audiences per page of /dmp/custom_audience/list/ (1-100,
#: https://business-api.tiktok.com/portal/docs?id=1739940506015746).
_PAGE_SIZE = 100


class TikTokAudiences(Client):
    """Streaming audiences of one advertiser. ``transport`` replaces httpx's own (tests)."""

    capabilities = CAPABILITIES

    def __init__(
        self, config: TikTokDestination, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._config = config
        self._client = httpx.Client(
            base_url=config.base_url,
            headers={"Access-Token": config.access_token.get_secret_value()},
            timeout=httpx.Timeout(config.timeout_seconds, connect=10.0),
            transport=transport,
        )

    # -- the destination protocol --------------------------------------------------------------

    def add(self, audience_id: str, members: pa.Table) -> PushResult:
        """Add up to ``max_members_per_request`` members in one request; adding a member
        already in is harmless."""
        return self._map(audience_id, members, "add")

    def remove(self, audience_id: str, members: pa.Table) -> PushResult:
        """Delete members in one request; deleting a member not in is harmless."""
        return self._map(audience_id, members, "delete")

    def close(self) -> None:
        self._client.close()

    # -- audiences -----------------------------------------------------------------------------

    def ensure_audience(self, name: str, description: str = "") -> str:
        """The id of the advertiser's audience called exactly ``name``, created as a
        streaming audience when there is none. TikTok takes no description, so
        ``description`` is not sent. TikTok lets names repeat: a streaming audience of that
        name wins over others, then the oldest."""
        wanted = self._checked_name(name)
        found = self.find_audience(wanted)
        if found is not None:
            return found
        body = {
            "advertiser_id": self._config.advertiser_id,
            "action": "create",
            "custom_audience_name": wanted,
        }
        data = self._call("POST", "/segment/audience/", f"TikTok audience {wanted!r}", json=body)
        if "audience_id" not in data:
            raise DestinationError(
                ErrorClass.RETRY, f"TikTok audience {wanted!r}: created, but no audience_id"
            )
        return str(data["audience_id"])

    def find_audience(self, name: str) -> str | None:
        """The id of the advertiser's audience called exactly ``name``, or None: reads only,
        a page of 100 audiences per call."""
        subject = f"TikTok advertiser {self._config.advertiser_id}"
        found: list[tuple[bool, str, int, str]] = []
        page = 1
        while True:
            params = {
                "advertiser_id": self._config.advertiser_id,
                "page": str(page),
                "page_size": str(_PAGE_SIZE),
            }
            data = self._call("GET", "/dmp/custom_audience/list/", subject, params=params)
            for audience in data.get("list") or []:
                if isinstance(audience, dict) and audience.get("name") == name:
                    audience_id = str(audience.get("audience_id", ""))
                    streaming = audience.get("audience_type") == STREAMING_TYPE
                    created = str(audience.get("create_time") or "")
                    found.append((not streaming, created, _number(audience_id), audience_id))
            total_pages = (data.get("page_info") or {}).get("total_page")
            if not isinstance(total_pages, int) or page >= total_pages:
                break
            page += 1
        return min(found)[3] if found else None

    def describe(self, audience_id: str) -> dict[str, object]:
        """Size and status of an audience as TikTok gives them, for the run record.

        ``cover_num`` is TikTok's count of matched users, updated hours after a change, and
        so the matched count every network gives (``MATCHED``); ``is_valid`` is false while
        TikTok is still calculating (or the audience expired)
        (/dmp/custom_audience/get/, https://business-api.tiktok.com/portal/docs?id=1739940507792385).
        """
        params = {
            "advertiser_id": self._config.advertiser_id,
            "custom_audience_ids": json.dumps([str(audience_id)]),
            "history_size": "1",
        }
        subject = f"TikTok audience {audience_id}"
        data = self._call("GET", "/dmp/custom_audience/get/", subject, params=params)
        listed = data.get("list") or [{}]
        details = listed[0].get("audience_details") if isinstance(listed[0], dict) else None
        if not isinstance(details, dict):
            raise DestinationError(
                ErrorClass.FAIL_AUDIENCE, f"{subject}: TikTok does not know this audience"
            )
        cover = details.get("cover_num")
        return {
            MATCHED: cover if isinstance(cover, int) and not isinstance(cover, bool) else None,
            "audience_id": str(details.get("audience_id", audience_id)),
            "name": details.get("name"),
            "audience_type": details.get("audience_type"),
            "cover_num": details.get("cover_num"),
            "is_valid": details.get("is_valid"),
            "status": details.get("msg"),
            "error_msg": details.get("error_msg") or None,
            "expired_time": details.get("expired_time"),
        }

    # -- requests ------------------------------------------------------------------------------

    def read(self, path: str, params: dict[str, str], subject: str) -> dict[str, Any]:
        """One GET under the API's base URL, its ``data`` returned, refusals classified as
        every call of this client is: the spend puller reads ad groups and reports so."""
        return self._call("GET", path, subject, params=params)

    def _map(self, audience_id: str, members: pa.Table, action: str) -> PushResult:
        if members.num_rows > CAPABILITIES.max_members_per_request:
            raise ValueError(
                f"{members.num_rows} members in one request; TikTok takes "
                f"{CAPABILITIES.max_members_per_request}"
            )
        subject = f"TikTok audience {audience_id}"
        body = mapping_body(
            members,
            advertiser_id=self._config.advertiser_id,
            audience_id=str(audience_id),
            action=action,
            mobile_id_types=self._config.mobile_id_types,
            subject=subject,
        )
        if body is None:  # no row has an id TikTok takes: nothing to send
            return PushResult(received=0, invalid=members.num_rows)
        response = self._send(
            "POST",
            "/segment/mapping/",
            subject,
            content=body.content,
            headers={"Content-Type": "application/json"},
        )
        envelope = _json(response)
        data_of(response.status_code, envelope, response.headers, subject)
        request_id = envelope.get("request_id") if isinstance(envelope, dict) else None
        return PushResult(
            received=body.sent,
            invalid=body.unusable,
            request_id=str(request_id) if request_id else None,
        )

    def _call(self, method: str, path: str, subject: str, **kwargs: Any) -> dict[str, Any]:
        """One request whose success envelope's ``data`` is returned."""
        response = self._send(method, path, subject, **kwargs)
        return data_of(response.status_code, _json(response), response.headers, subject)

    def _send(self, method: str, path: str, subject: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise DestinationError(
                ErrorClass.RETRY, f"{subject}: TikTok API unreachable ({type(error).__name__})"
            ) from None

    def _checked_name(self, name: str) -> str:
        """A name TikTok keeps as given: past 70 characters it would cut the name, and
        the next look-up by name would miss it and create another audience."""
        wanted = name.strip()
        if not wanted or "\n" in wanted:
            raise DestinationError(
                ErrorClass.FAIL_AUDIENCE, "a TikTok audience name is one non-empty line"
            )
        if len(wanted) > NAME_LIMIT:
            raise DestinationError(
                ErrorClass.FAIL_AUDIENCE,
                f"TikTok audience {wanted[:NAME_LIMIT]!r}...: the name has {len(wanted)} "
                f"characters and TikTok cuts names past {NAME_LIMIT}; give it a name of at "
                f"most {NAME_LIMIT}",
            )
        return wanted


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _number(audience_id: str) -> int:
    """An id's order among audiences made in the same second (``create_time`` has
    seconds only): the smaller first."""
    return int(audience_id) if audience_id.isdigit() else 2**63
