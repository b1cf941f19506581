"""Google service-account key files for tests, pointed at an emulator's token endpoint."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["service_account_file"]


def service_account_file(path: Path, token_uri: str) -> Path:
    """A service-account key whose token_uri is the emulator (google-auth honours it for
    service accounts; for authorized-user files it always uses Google's)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "sandbox",
        "private_key_id": "sandbox-key",
        "private_key": pem,
        "client_email": "syncd@sandbox.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(info))
    return path
