"""Consent decided per row, never per batch: a row reaches a network that needs consent
only when both signals are granted, by its own columns or by its destination's defaults."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from syncd.config.models import Consent, SegmentConsent
from syncd.identity.vector import trues

#: The values that mean yes, after str(value).strip().lower().
GRANTED = frozenset({"granted", "true", "yes", "y", "1", "t"})


def consent_mask(
    batch: pa.RecordBatch, columns: SegmentConsent | None, defaults: Consent
) -> pa.Array:
    """A flag per row: both consents granted, from the segment's columns or the defaults.
    A value that says neither yes nor no counts as no: consent is never assumed. Decided
    once per distinct value, not per row."""
    granted = trues(len(batch))
    pairs = (
        (columns.ad_user_data if columns else None, defaults.ad_user_data),
        (columns.ad_personalization if columns else None, defaults.ad_personalization),
    )
    for column, default in pairs:
        if column is None:
            flags = pa.repeat(pa.scalar(_granted(None, default)), len(batch))
        else:
            encoded = pc.dictionary_encode(batch.column(column))
            decided = [_granted(value, default) for value in encoded.dictionary.to_pylist()]
            flags = pc.fill_null(
                pc.take(pa.array(decided, pa.bool_()), encoded.indices), _granted(None, default)
            )
        granted = pc.and_(granted, flags)
    return granted


def _granted(value: object, default: str) -> bool:
    if value is None:
        return default == "granted"
    return str(value).strip().lower() in GRANTED
