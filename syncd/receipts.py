"""Run receipts: with `receipts:` in the config, every pass that applies appends one row per
audience to a table beside the team's data (`syncd.report_tables`: a PostgreSQL warehouse's
schema, else the state's database), so sync history is queried next to the segments.

A receipt holds counts, statuses and reasons, never an identifier: what the run record's
summary holds, flattened. All of a pass's receipts go in one insert, after its audiences are
done; a receipt that cannot be written is a note on each result and a log line, never a
failed pass (the members synced all the same, and the state's `runs` keep the history).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from syncd import __version__
from syncd.config.models import SyncdConfig
from syncd.report_tables import write_rows
from syncd.results import AudienceResult

log = logging.getLogger("syncd")

_TEXT, _COUNT, _NUMBER, _TIME = "VARCHAR", "BIGINT", "DOUBLE PRECISION", "TIMESTAMPTZ"

#: A receipt's columns, in order, with their SQL types. Columns are only ever added: a table
#: written by an earlier version keeps taking rows (new columns need an ALTER TABLE there).
RECEIPT_COLUMNS: dict[str, str] = {
    "pass_id": _TEXT,  # one per pass: the receipts written together
    "run_id": _TEXT,  # the state's run record; NULL when the audience never reached its network
    **dict.fromkeys(("audience", "segment", "destination", "network", "audience_id"), _TEXT),
    "started_at": _TIME,
    "finished_at": _TIME,
    "duration_seconds": _NUMBER,
    "status": _TEXT,
    **dict.fromkeys(("rows_read", "invalid", "members", "held_before"), _COUNT),
    **dict.fromkeys(("adds", "removes", "refreshes", "requests"), _COUNT),
    **dict.fromkeys(("rejected_by_network", "refused_members", "unapplied"), _COUNT),
    "invalid_reasons": _TEXT,  # JSON: {reason: count}
    "request_statuses": _TEXT,  # JSON: {status: requests}
    "error": _TEXT,
    "notes": _TEXT,
    "syncd_version": _TEXT,
}


def write_receipts(config: SyncdConfig, results: Sequence[AudienceResult]) -> None:
    """Append the pass's receipts, when the config asks for them; never raises."""
    if config.receipts is None or not results:
        return
    rows = receipt_rows(config, results, uuid.uuid4().hex)
    table = config.receipts.table
    try:
        where = write_rows(config, table, RECEIPT_COLUMNS, rows, replace=False)
    except Exception as error:  # the members are synced; only the receipt is missing
        note = f"could not write the run receipt to {table}: {_first_line(error)}"
        log.warning("receipts: %s", note)
        for result in results:
            result.notes.append(note)
        return
    log.info("receipts: %d rows to %s in %s", len(rows), table, where)


def receipt_rows(
    config: SyncdConfig, results: Sequence[AudienceResult], pass_id: str
) -> list[dict[str, object]]:
    """One row per audience (`RECEIPT_COLUMNS`), from the results of one pass."""
    audiences = {audience.name: audience for audience in config.audiences}
    rows = []
    for result in results:
        audience = audiences.get(result.audience)
        started = datetime.fromisoformat(result.started_at)
        rows.append(
            {
                "pass_id": pass_id,
                "run_id": result.run_id,
                "audience": result.audience,
                "segment": audience.segment if audience else None,
                "destination": audience.destination if audience else None,
                "network": result.network,
                "audience_id": result.audience_id,
                "started_at": started.isoformat(),
                "finished_at": (started + timedelta(seconds=result.seconds)).isoformat(),
                "duration_seconds": result.seconds,
                "status": result.status,
                "rows_read": result.rows_read,
                "invalid": sum(result.invalid.values()),
                "members": result.members,
                "held_before": result.held_before,
                "adds": result.adds,
                "removes": result.removes,
                "refreshes": result.refreshes,
                "requests": result.requests,
                "rejected_by_network": result.rejected_by_network,
                "refused_members": result.refused_members,
                "unapplied": result.unapplied,
                "invalid_reasons": json.dumps(result.invalid, sort_keys=True),
                "request_statuses": json.dumps(
                    Counter(result.request_statuses.values()), sort_keys=True
                ),
                "error": result.error,
                "notes": "; ".join(result.notes) or None,
                "syncd_version": __version__,
            }
        )
    return rows


def _first_line(error: Exception) -> str:
    """The error's first line: a driver's later lines may quote the statement."""
    return (str(error).splitlines() or [type(error).__name__])[0]
