"""usersreplace sessions: a full replacement of an audience's users, in batches.

The first batch (``batch_seq`` 1) opens a session; each further batch must carry the next
``batch_seq`` (a re-sent batch, the same ``batch_seq`` again, is accepted: a client retrying
a batch whose answer it lost must not break the session). Members of all batches become the
audience when the batch with ``last_batch_flag`` lands; until then the audience is as it was.
A session must finish within the replace window (90 minutes on Meta); past it, the session is
dropped and the audience is kept. Only one session may be open on an audience at a time.

Meta documents neither the subcodes nor the refusal conditions of these errors; the emulator
uses its own (see ``errors``) and models one refusal: an audience that seeds a lookalike
used by an active ad set.
"""

from __future__ import annotations

from syncd.destinations.meta.sandbox.errors import (
    REPLACE_IN_PROGRESS,
    REPLACE_OUT_OF_ORDER,
    REPLACE_REFUSED,
    REPLACE_SESSION_EXPIRED,
    GraphError,
    flagged_upload_blocked,
)
from syncd.destinations.meta.sandbox.payload import ParsedRows, Session
from syncd.destinations.meta.sandbox.state import Audience, ReplaceSession

__all__ = ["apply_batch", "expired"]


def expired(session: ReplaceSession, now: float, window: float) -> bool:
    return now - session.started > window


def apply_batch(
    audience: Audience, session: Session, parsed: ParsedRows, now: float, window: float
) -> None:
    """Apply one usersreplace batch to ``audience`` or raise the Graph error Meta answers."""
    count = parsed.received
    if audience.flagged is not None:
        raise flagged_upload_blocked(count)
    current = audience.replace
    if current is not None and expired(current, now, window):
        audience.replace = None  # abandoned: Meta drops it, the audience stays as it was
        if current.session_id == session.session_id:
            raise _error(REPLACE_SESSION_EXPIRED, "expired", count, window)
        current = None
    if current is None:
        if session.batch_seq != 1:
            raise _error(REPLACE_SESSION_EXPIRED, "not open", count, window)
        if audience.refuses_replace:
            raise _error(REPLACE_REFUSED, "refused", count, window)
        current = ReplaceSession(session.session_id, now, 0)
        audience.replace = current
    elif current.session_id != session.session_id:
        raise _error(REPLACE_IN_PROGRESS, "in progress", count, window)
    if session.batch_seq not in (current.last_seq, current.last_seq + 1):
        raise _error(REPLACE_OUT_OF_ORDER, "out of order", count, window)
    current.members.update(parsed.members)  # a re-sent batch adds nothing new
    if session.batch_seq > current.last_seq:
        current.last_seq, current.received = session.batch_seq, current.received + count
    if session.last_batch_flag:
        audience.members = set(current.members)
        audience.replace = None


def _error(kind: tuple[int, int], what: str, count: int, window: float) -> GraphError:
    code, subcode = kind
    minutes = f"{window / 60:g}"
    messages = {
        "expired": f"(#{code}) The replace session expired: a replace must finish within "
        f"{minutes} minutes of its first batch. The audience was not changed.",
        "not open": f"(#{code}) No open replace session with this session_id: start one with "
        f"batch_seq 1 (sessions expire {minutes} minutes after their first batch).",
        "refused": f"(#{code}) Users of this custom audience cannot be replaced: it is the "
        "source of a lookalike audience used in an active ad set. Add and remove users instead.",
        "in progress": f"(#{code}) Another replace session is in progress on this custom "
        f"audience; wait until it finishes or expires ({minutes} minutes).",
        "out of order": f"(#{code}) session.batch_seq is out of order: batches of a replace "
        "session must arrive in sequence from 1.",
    }
    return GraphError(messages[what], code=code, subcode=subcode, count=count)
