"""The YAML config: its models and its loader."""

from syncd.config.loader import load_config
from syncd.config.models import (
    Audience,
    DuckDBWarehouse,
    GoogleDataManagerDestination,
    MetaDestination,
    Segment,
    SyncdConfig,
)
from syncd.config.problems import ConfigError, ConfigProblem

__all__ = [
    "Audience",
    "ConfigError",
    "ConfigProblem",
    "DuckDBWarehouse",
    "GoogleDataManagerDestination",
    "MetaDestination",
    "Segment",
    "SyncdConfig",
    "load_config",
]
