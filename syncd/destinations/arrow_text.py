"""Request bodies from Arrow string arrays, without a Python string per member.

Both networks' bodies are text around thousands of hashes. Checking, quoting and joining
them with Arrow kernels, rather than through Python lists, keeps a 10,000-member body to a
few milliseconds: syncd sends a thousand of them per network for 10M members.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def plain(values: pa.Array) -> bool:
    """Whether every byte of the values is an ASCII letter or digit, as in every hash, so
    they need no escaping in JSON or in a form. One C loop over the array's bytes: the
    regex kernel that finds characters to escape took seven times as long. (The bytes may
    include some outside the array, of a slice: that only ever answers False.)"""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return False  # other layouts (views, dictionaries) keep their bytes elsewhere
    data = values.buffers()[2]
    return data is not None and data.to_pybytes().isalnum()


def joined(values: pa.Array, separator: str) -> pa.Buffer:
    """The values (none of them null) joined by `separator`, as UTF-8 bytes."""
    listed = pa.ListArray.from_arrays(pa.array([0, len(values)], pa.int32()), values)
    return pc.binary_join(listed, separator)[0].as_buffer()
