"""TikTok's calls per second, paced per second: a pass of many batches against the emulator
at the Basic level (10 calls a second per app, code 40100 past it) is never refused.

TikTok refuses with HTTP 200 and a code in the envelope, so the emulator's request log (HTTP
statuses) cannot tell a refusal: the emulator here counts the codes it answers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest
from conftest import TOKEN, Workspace, sha

from syncd.destinations.tiktok.sandbox import TikTokEmulator
from syncd.destinations.tiktok.sandbox.errors import RATE_LIMITED
from syncd.sandbox.messages import Request, Response

ADVERTISER = "7000000000000000001"
AUDIENCE = "180000555"
PEOPLE = [f"shopper{i}@example.com" for i in range(240)]
#: 24 requests of 10 members: more than two seconds' worth of the Basic level's budget.
BATCH = 10


class CountingEmulator(TikTokEmulator):
    """The TikTok emulator at the Basic call limit level, counting the codes it answers."""

    def __init__(self) -> None:
        super().__init__(TOKEN, advertisers=[ADVERTISER], level="basic")
        self.codes: Counter[int] = Counter()

    def handle(self, request: Request) -> Response:
        response = super().handle(request)
        code = json.loads(response.body)["code"]
        with self._lock:
            self.codes[code] += 1
        return response


@pytest.fixture
def tiktok() -> Iterator[CountingEmulator]:
    with CountingEmulator() as emulator:
        emulator.add_audience(AUDIENCE, advertiser=ADVERTISER)
        yield emulator


def test_a_push_of_many_batches_stays_within_the_basic_levels_calls_per_second(
    workspace: Workspace, tiktok: CountingEmulator
) -> None:
    workspace.write_people([(email, None, "US", None, None, None) for email in PEOPLE])
    data = workspace.config_data()
    data["destinations"] = {
        "tiktok": {
            "kind": "tiktok",
            "advertiser_id": ADVERTISER,
            "access_token": "${TEST_TOKEN}",
            "endpoint": tiktok.base_url,
            "batch_size": BATCH,
        }
    }
    data["audiences"] = [{"segment": "people", "destination": "tiktok", "audience_id": AUDIENCE}]

    (result,) = workspace.sync(data)

    assert (result.status, result.requests) == ("ok", len(PEOPLE) // BATCH), result.error
    assert tiktok.codes[RATE_LIMITED] == 0, tiktok.codes
    assert tiktok.codes[0] > 2 * 10  # the pass did call more than two seconds' worth
    assert tiktok.hashes(AUDIENCE) == {sha(email) for email in PEOPLE}
