"""Logging set-up for the command line: readable lines on stderr, with credentials scrubbed.

Client libraries log at DEBUG what they send; urllib3 (under facebook-business) writes
request lines whose query string carries the Graph access token (or, asking Graph's token
debugger, the token as input_token). Those records are
scrubbed here, at the handler, so no library's logging can put a token on disk.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

_CREDENTIALS = re.compile(
    r"(?P<key>access_token=|input_token=|appsecret_proof=|Bearer\s+|\"access_token\":\s*\")"
    r"[^&\s\"']+",
    re.IGNORECASE,
)


def scrub(text: str) -> str:
    """The text with every access token, app secret proof and bearer token blanked out."""
    return _CREDENTIALS.sub(lambda match: f"{match.group('key')}<redacted>", text)


class CredentialScrubber(logging.Filter):
    """Formats each record once and scrubs the result, arguments included."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log pipelines: time, level, logger, message, and the
    record's extra fields (audience, run_id, counts). Values are what the message already
    carries: names, ids and counts, never an identifier."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value)
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")
        )
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure_logging(level: str, json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(CredentialScrubber())
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # The scheduler logs every job start and finish at INFO; syncd logs each pass itself.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.root.level))
