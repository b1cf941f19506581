"""Shared fixtures: the real emulators on 127.0.0.1 and a workspace with a DuckDB warehouse
and a YAML config pointing at them."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import yaml

from syncd.config import SyncdConfig, load_config
from syncd.destinations.retry import RetryPolicy
from syncd.pacing import forget_shared_pacers
from syncd.pipeline import AudienceResult, PassOptions, sync_all
from syncd.sandbox.pair import Sandbox

#: The session's PostgreSQL server fixtures (`postgres`, `postgres_uri`).
pytest_plugins = ["conftest_postgres"]

TOKEN = "test-token-5b1c"
META_AUDIENCE = "23850000000000001"
GOOGLE_LIST = "9000001"
PEOPLE_COLUMNS = ("email", "phone", "country", "first_name", "last_name", "zip")
#: No real waiting in tests: the policy's shape is unit-tested, sleeping proves nothing.
FAST_RETRIES = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)


@pytest.fixture(autouse=True)
def _fresh_pacers() -> Iterator[None]:
    """Each test meets its networks' budgets afresh: the process keeps one pacer per quota
    owner, and a pause one test ran into is no business of the next."""
    yield
    forget_shared_pacers()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(
        meta_audiences=[META_AUDIENCE],
        google_user_lists=[GOOGLE_LIST],
        meta_access_token=TOKEN,
        google_access_token=TOKEN,
    ) as running:
        yield running


class Workspace:
    """A folder with a warehouse (one `people` table), a config, and the state beside it."""

    def __init__(self, root: Path, sandbox: Sandbox) -> None:
        self.root = root
        self.sandbox = sandbox
        self.warehouse = root / "shop.duckdb"

    def write_people(self, rows: Sequence[Sequence[object]]) -> None:
        """Replace the `people` table; each row is (email, phone, country, first, last, zip)."""
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(PEOPLE_COLUMNS)
        table = pa.table(
            {
                name: pa.array(list(values), pa.string())
                for name, values in zip(PEOPLE_COLUMNS, columns, strict=True)
            }
        )
        # Written aside and renamed into place, as a shop exporting to syncd should: a
        # running daemon may have the old file open, and sees either version, whole.
        fresh = self.warehouse.with_suffix(".new")
        fresh.unlink(missing_ok=True)
        with duckdb.connect(str(fresh)) as db:
            db.register("incoming", table)
            db.execute("CREATE OR REPLACE TABLE people AS SELECT * FROM incoming")
        os.replace(fresh, self.warehouse)

    def config_data(self) -> dict:
        return {
            "warehouse": {"kind": "duckdb", "path": "shop.duckdb"},
            "segments": {
                "people": {
                    "sql": "select * from people",
                    "identifiers": {"email": "email", "phone": "phone"},
                    "country_column": "country",
                }
            },
            "destinations": {
                "meta": {
                    "kind": "meta",
                    "ad_account_id": "act_1000",
                    "access_token": "${TEST_TOKEN}",
                    "endpoint": self.sandbox.meta.base_url,
                },
                "google": {
                    "kind": "google_data_manager",
                    "operating_account_id": "1234567890",
                    "access_token": "${TEST_TOKEN}",
                    "endpoint": self.sandbox.google.base_url,
                    # The sandbox counts no quota unless a test turns it on: pacing to the
                    # real 300 a minute would only slow the tests down.
                    "requests_per_minute": 60_000,
                },
            },
            "audiences": [
                {"segment": "people", "destination": "meta", "audience_id": META_AUDIENCE},
                {"segment": "people", "destination": "google", "audience_id": GOOGLE_LIST},
            ],
            "state": {"path": "state.duckdb"},
        }

    def write_config(self, data: dict | None = None) -> Path:
        path = self.root / "syncd.yaml"
        path.write_text(yaml.safe_dump(data or self.config_data(), sort_keys=False))
        return path

    def config(self, data: dict | None = None) -> SyncdConfig:
        return load_config(self.write_config(data), environ={"TEST_TOKEN": TOKEN})

    def sync(
        self, data: dict | None = None, retry_policy: RetryPolicy = FAST_RETRIES
    ) -> list[AudienceResult]:
        return sync_all(self.config(data), PassOptions(retry_policy=retry_policy))


@pytest.fixture
def workspace(tmp_path: Path, sandbox: Sandbox) -> Workspace:
    return Workspace(tmp_path, sandbox)
