"""What a holdout test expects, computed by hand from the documented rule
(`syncd.lift.assignment`: SHA-256 over the salt, 0x1f and the person key; held out iff the
first 8 bytes, big-endian, are below fraction * 2**64), with the person key written out
(`email:` + the SHA-256 of the normalized address), and what the emulators hold."""

from __future__ import annotations

import hashlib

from conftest import GOOGLE_LIST, META_AUDIENCE, Workspace, sha

from syncd.lift import experiment_salt


def held_out(name: str, emails: list[str], fraction: float, salt: str | None = None) -> set[str]:
    """The emails the rule holds out of the experiment `name` (lowercase addresses, so the
    normalized address is the address)."""
    prefix = experiment_salt(name, salt).encode() + b"\x1f"
    limit = fraction * 2**64
    return {
        email
        for email in emails
        if int.from_bytes(hashlib.sha256(prefix + f"email:{sha(email)}".encode()).digest()[:8])
        < limit
    }


def meta_emails(workspace: Workspace) -> set[str]:
    members = workspace.sandbox.meta.members(META_AUDIENCE)
    return {value for member in members for key, value in member if key == "EMAIL"}


def google_emails(workspace: Workspace) -> set[str]:
    members = workspace.sandbox.google.members(GOOGLE_LIST)
    return {value for member in members for key, value in member if key == "emailAddress"}
