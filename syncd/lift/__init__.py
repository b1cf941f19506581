"""Audience P&L by randomized holdouts: who is held out, and what an audience added.

Pure functions only: the pipeline decides which people and outcomes they see.
"""

from syncd.lift.assignment import InvalidKey, experiment_salt, held_out, is_held_out, threshold
from syncd.lift.estimate import (
    Estimate,
    GroupOutcomes,
    Interval,
    Lift,
    Ratio,
    estimate,
    minimum_detectable_effect,
)

__all__ = [
    "Estimate",
    "GroupOutcomes",
    "Interval",
    "InvalidKey",
    "Lift",
    "Ratio",
    "estimate",
    "experiment_salt",
    "held_out",
    "is_held_out",
    "minimum_detectable_effect",
    "threshold",
]
