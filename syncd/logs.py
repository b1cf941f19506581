"""Logging set-up for the command line: readable lines on stderr, with credentials scrubbed.

Client libraries log at DEBUG what they send; urllib3 (under facebook-business) writes
request lines whose query string carries the Graph access token. Those records are
scrubbed here, at the handler, so no library's logging can put a token on disk.
"""

from __future__ import annotations

import logging
import re
import sys

_CREDENTIALS = re.compile(
    r"(?P<key>access_token=|appsecret_proof=|Bearer\s+|\"access_token\":\s*\")[^&\s\"']+",
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


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(CredentialScrubber())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
