"""TLS for the Google Ads emulator: one throwaway CA per process, one leaf per server.

``GoogleAdsClient`` builds its channels itself (``grpc_helpers.create_channel`` with default
SSL credentials), so a test cannot hand it a root certificate. What grpc does honour is the
``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` environment variable -- but it reads it *once per
process*, when the first secure channel loads its default roots, and never again. Hence:

* one CA per process, generated on first use; every emulator in the process signs its server
  certificate with it, so a second emulator is trusted by the roots grpc already loaded;
* its PEM goes to one temp file, removed at exit;
* ``trust_sandbox_ca`` points the variable at that file (or at a copy of the bundle it already
  named, with the CA appended), and must run before the process opens its first secure grpc
  channel (the emulator's ``start`` calls it).

Where the variable was unset, the process then trusts only the sandbox CA over grpc: real
Google endpoints would fail the handshake, which is what the sandbox wants anyway.

Certificates use ``cryptography`` (already installed as a google-auth dependency): P-256 keys,
valid for one day, the leaf for ``127.0.0.1`` and ``localhost``.
"""

from __future__ import annotations

import atexit
import datetime as dt
import ipaddress
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["ROOTS_ENV", "ServerCert", "issue_server_cert", "sandbox_ca_file", "trust_sandbox_ca"]

logger = logging.getLogger("syncd.sandbox")

#: The variable grpc core reads (once per process) for its default trusted roots.
ROOTS_ENV = "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"

_VALIDITY = dt.timedelta(days=1)
_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ServerCert:
    """A server's private key and certificate chain, PEM-encoded, for grpc's server creds."""

    key_pem: bytes
    chain_pem: bytes


@dataclass(frozen=True, slots=True)
class _CA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    path: Path


_ca: _CA | None = None
_ca_lock = threading.Lock()


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "syncd sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _make_ca() -> _CA:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = _name("syncd sandbox CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp(prefix="syncd-google-ads-ca-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return _CA(key, cert, path)


def _sandbox_ca() -> _CA:
    global _ca
    with _ca_lock:
        if _ca is None:
            _ca = _make_ca()
        return _ca


def sandbox_ca_file() -> Path:
    """The PEM file of this process's sandbox CA (created on first call)."""
    return _sandbox_ca().path


def issue_server_cert() -> ServerCert:
    """A fresh server key and certificate for 127.0.0.1 and localhost, signed by the CA."""
    ca = _sandbox_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(now + _VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    chain = cert.public_bytes(serialization.Encoding.PEM)
    return ServerCert(key_pem, chain + ca.cert.public_bytes(serialization.Encoding.PEM))


def trust_sandbox_ca() -> Path:
    """Make grpc clients of this process trust the sandbox CA; return the roots file used.

    Effective only if no secure grpc channel has loaded default roots yet in this process.
    When the variable is unset it is pointed at the CA alone. When it already names a roots
    file (some images set it to the system bundle), it is pointed at a copy of that bundle
    with the sandbox CA appended, so the roots the environment chose stay trusted.
    """
    ca = sandbox_ca_file()
    current = os.environ.get(ROOTS_ENV)
    bundle = ca.with_name("bundle.pem")
    if current in (str(ca), str(bundle)):
        return Path(current)
    if current is None:
        os.environ[ROOTS_ENV] = str(ca)
        return ca
    try:
        existing = Path(current).read_bytes()
    except OSError:
        logger.warning("%s names an unreadable file; trusting the sandbox CA only", ROOTS_ENV)
        existing = b""
    bundle.write_bytes(existing.rstrip() + b"\n" + ca.read_bytes())
    os.environ[ROOTS_ENV] = str(bundle)
    return bundle
