"""syncd's memory: what each audience holds, the journal of batches and runs, and leases."""

from __future__ import annotations

from syncd.config.models import DuckDBState, PostgresState
from syncd.state.backends import DuckDBBackend, PostgresBackend
from syncd.state.diff import Changes
from syncd.state.errors import StateUnavailable
from syncd.state.spill import Spill, SpillTable
from syncd.state.store import PRESENT, AudienceRef, Diff, Recovery, StateStore

__all__ = [
    "PRESENT",
    "AudienceRef",
    "Changes",
    "Diff",
    "Recovery",
    "Spill",
    "SpillTable",
    "StateStore",
    "StateUnavailable",
    "open_state",
]


def open_state(settings: DuckDBState | PostgresState) -> StateStore:
    """The store a config's `state` section names. Raises StateUnavailable, whose message
    says where and what to do, when it cannot be opened."""
    if isinstance(settings, PostgresState):
        return StateStore(PostgresBackend(settings.dsn.get_secret_value(), settings.schema_name))
    return StateStore(DuckDBBackend(settings.path))
