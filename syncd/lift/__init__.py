"""Audience P&L by randomized holdouts: who is held out.

Pure functions only: the pipeline decides which people and outcomes they see.
"""

from syncd.lift.assignment import InvalidKey, experiment_salt, held_out, is_held_out, threshold

__all__ = ["InvalidKey", "experiment_salt", "held_out", "is_held_out", "threshold"]
