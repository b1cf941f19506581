"""Google's own error bodies, kept verbatim in one place: the emulator must produce them and
the error table must read them, so both tests check against the same text."""

from __future__ import annotations

#: The two refusals the "Send audience members" quickstart shows, verbatim:
#: https://developers.google.com/data-manager/api/get-started/quickstart/send-audience-members
QUICKSTART_NOT_HEX = (
    '{"error":{"code":400,"message":"There was a problem with the request.","status":'
    '"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo",'
    '"reason":"INVALID_ARGUMENT","domain":"datamanager.googleapis.com"},{"@type":'
    '"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":'
    '"audience_members.audience_members[0].user_data.user_identifiers","description":'
    '"Email is not hex encoded.","reason":"INVALID_HEX_ENCODING"}]}]}}'
)
QUICKSTART_NOT_SHA256 = (
    '{"error":{"code":400,"message":"There was a problem with the request.","status":'
    '"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo",'
    '"reason":"INVALID_ARGUMENT","domain":"datamanager.googleapis.com"},{"@type":'
    '"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":'
    '"audience_members.audience_members[0]","reason":"INVALID_SHA256_FORMAT"}]}]}}'
)
