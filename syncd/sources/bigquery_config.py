"""The `warehouse:` block for BigQuery. Like postgres_config, it imports neither the Google
SDK nor syncd.config, so syncd.config.models can import it without a cycle or an extra."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from syncd.sources.settings import WarehouseSettings

#: BigQuery bills on-demand queries at least 10 MB per table they read, so a smaller limit
#: fails every query that reads a table ("10485760 or higher required").
MINIMUM_BYTES_BILLED = 10 * 1024 * 1024
_LABEL_KEY = r"[a-z][a-z0-9_-]{0,62}"
_LABEL_VALUE = r"[a-z0-9_-]{0,63}"
MAX_LABELS = 64


class BigQueryWarehouse(WarehouseSettings):
    # Inputs (secrets among them) stay out of error texts when validated on its own.
    model_config = ConfigDict(hide_input_in_errors=True)

    kind: Literal["bigquery"] = Field(
        description="Google BigQuery: each segment runs as a query job, and its result is "
        "streamed through the BigQuery Storage Read API as Arrow. Needs `pip install "
        "'syncd[bigquery]'`."
    )
    project: str = Field(
        pattern=r"^([a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$",
        description="The Google Cloud project id the query jobs run in and are billed to "
        "(e.g. my-shop-prod). Segment SQL may read tables of other projects by naming them "
        "`project.dataset.table`.",
    )
    location: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9-]+$",
        description="Where the jobs run: the datasets' location, such as US, EU or "
        "europe-west1. Unset, BigQuery infers it from the tables the query reads.",
    )
    credentials_file: Path | None = Field(
        default=None,
        description="A service-account key or workload-identity-federation JSON file, "
        "relative to the config file's folder. Unset, syncd uses Application Default "
        "Credentials: GOOGLE_APPLICATION_CREDENTIALS, then `gcloud auth application-default "
        "login`, then the service account attached to the VM, GKE pod or Cloud Run service "
        "(the better choice in production: no key file to leak).",
    )
    maximum_bytes_billed: int | None = Field(
        default=None,
        ge=MINIMUM_BYTES_BILLED,
        description="A cost guard: a query that would bill more bytes fails before it runs, "
        "and costs nothing. On-demand pricing bills bytes processed (at least 10 MB per "
        "table read, so at least 10485760), not rows returned; `syncd plan` shows each "
        "segment's estimate. Projects on capacity (slot) pricing pay for slots instead, so "
        "there it caps bytes, not money. Unset, the project's default limit applies, "
        "usually none.",
    )
    job_labels: dict[str, str] = Field(
        default_factory=lambda: {"app": "syncd"},
        description="Labels on every query job, so billing exports and INFORMATION_SCHEMA.JOBS "
        "can attribute the cost to syncd. Keys: lowercase letter first, then lowercase "
        "letters, digits, _ or -, at most 63; values: the same characters, at most 63; at "
        "most 64 labels. Defaults to {app: syncd}.",
    )

    @field_validator("job_labels")
    @classmethod
    def _valid_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        if len(labels) > MAX_LABELS:
            raise ValueError(f"at most {MAX_LABELS} labels, got {len(labels)}")
        for key, value in labels.items():
            if not re.fullmatch(_LABEL_KEY, key):
                raise ValueError(
                    f"label key {key!r} must start with a lowercase letter and hold only "
                    "lowercase letters, digits, _ or - (at most 63)"
                )
            if not re.fullmatch(_LABEL_VALUE, value):
                raise ValueError(
                    f"label {key!r}: the value must hold only lowercase letters, digits, _ "
                    "or - (at most 63)"
                )
        return labels
