"""TikTok API for Business emulator: streaming audiences (``/segment/audience/``,
``/segment/mapping/``) and the Customer File API (``/dmp/custom_audience/...``), for one
developer app.

It speaks TikTok's wire format -- the ``Access-Token`` header, JSON bodies (multipart for the
file upload), and the ``{"code", "message", "request_id", "data"}`` envelope answered with
HTTP 200 even for refusals -- and enforces what TikTok enforces or what its clients rely on:
the app's calls per second (code 40100), the token (40105), the advertiser's authorization
(40001), parameter rules (40002), hashes of the declared type, and changes that apply later
rather than in the call that sends them. docs/tiktok.md is the research note behind it.

Modules: ``emulator`` (routing and the endpoints), ``payload`` (JSON bodies and identifier
rules), ``files`` (the Customer File API's upload and bodies), ``state`` (audiences, pending
changes, files), ``usage`` (the app's rate budget), ``controls`` (test controls),
``errors`` (the envelope and return codes).
"""

from syncd.destinations.tiktok.sandbox.emulator import PREFIX, TikTokEmulator
from syncd.destinations.tiktok.sandbox.errors import RETURN_CODES, TikTokError
from syncd.destinations.tiktok.sandbox.files import CALCULATE_TYPES
from syncd.destinations.tiktok.sandbox.payload import MAX_MAPPING_ROWS, SEGMENT_ID_TYPES

__all__ = [
    "CALCULATE_TYPES",
    "MAX_MAPPING_ROWS",
    "PREFIX",
    "RETURN_CODES",
    "SEGMENT_ID_TYPES",
    "TikTokEmulator",
    "TikTokError",
]
