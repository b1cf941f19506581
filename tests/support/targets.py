"""Targets for tests of one stage on its own (a read, a plan), resolved as a pass resolves
them, from a config of one segment, one destination and one audience."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import TypeAdapter

from syncd.config.models import Audience, Destination, DuckDBWarehouse, Segment, SyncdConfig
from syncd.targets import Target, resolve

#: Settings of a destination of each kind that no test sends to (the port is closed).
META_SETTINGS = {
    "kind": "meta",
    "ad_account_id": "act_1000",
    "access_token": "unused",
    "endpoint": "http://127.0.0.1:9",
}
DATA_MANAGER_SETTINGS = {
    "kind": "google_data_manager",
    "operating_account_id": "1234567890",
    "access_token": "unused",
    "endpoint": "http://127.0.0.1:9",
}


def target_for(
    segment: Segment, destination: dict, audience_id: str = "23850000000000001"
) -> Target:
    """The target of the one audience of `segment` (named "people") on `destination`
    (settings as YAML has them). Each section is validated, but not the rules across
    sections: a stage's test may read a mapping a whole config would refuse (user IDs
    beside emails for Google)."""
    audience = Audience(segment="people", destination="d", audience_id=audience_id)
    config = SyncdConfig.model_construct(
        warehouse=DuckDBWarehouse(kind="duckdb", path=Path("unused.duckdb")),
        segments={"people": segment},
        destinations={"d": TypeAdapter(Destination).validate_python(destination)},
        audiences=[audience],
    )
    return resolve(config, audience, dt.datetime.now(dt.UTC))
