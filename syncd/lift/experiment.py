"""A holdout as a pass applies it: the experiment's name, salt and fraction, and who of a
batch of people it holds out."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from syncd.lift.assignment import experiment_salt, held_out


@dataclass(frozen=True)
class Experiment:
    """One holdout experiment. Its `salt` comes from its name (a segment's, shared by the
    segment's audiences on every network, or an audience's) and the config's optional salt,
    so two experiments hold out independent people and renaming one starts it afresh."""

    name: str
    salt: str
    fraction: float

    @classmethod
    def named(cls, name: str, fraction: float, salt: str | None = None) -> Experiment:
        return cls(name, experiment_salt(name, salt), fraction)

    def held_out(self, person_keys: pa.Array) -> pa.BooleanArray:
        """Per person key, whether that person is held out. A null key (a row with none of
        the identifiers a person is known by, `syncd.lift.person`) is never held out: such a
        row is sent as before and stays out of the experiment's counts."""
        known = pc.is_valid(person_keys)
        if pc.all(known).as_py():
            return held_out(self.salt, person_keys, self.fraction)
        flags = pa.array([False] * len(person_keys), pa.bool_())
        positions = pc.indices_nonzero(known)
        if len(positions):
            held = held_out(self.salt, pc.take(person_keys, positions), self.fraction)
            flags = pc.replace_with_mask(flags, known, held)
        return flags
