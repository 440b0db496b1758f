"""Self-signed certificates made with cryptography for TLS and signature tests (nothing read from disk)."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def make_key(kind: str = "rsa"):
    return ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(65537, 2048)


def self_signed(key, common_name: str = "localhost", days: int = 30, server: bool = False) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "СНТ Тест")])
    now = datetime.now(timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
               .not_valid_after(now + timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(key, hashes.SHA256())


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key, password: str | None = None) -> str:
    enc = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc).decode()


def server_files(folder: Path) -> tuple[Path, Path]:
    """cert.pem and key.pem of a server certificate for localhost / 127.0.0.1."""
    key = make_key("rsa")
    cert = self_signed(key, server=True)
    cert_path, key_path = folder / "server-cert.pem", folder / "server-key.pem"
    cert_path.write_text(cert_pem(cert))
    key_path.write_text(key_pem(key))
    return cert_path, key_path


def mtls_server(folder: Path):
    """A TLS server context that demands a client certificate, and what a client needs to pass it:
    (server context, server certificate file to trust, client certificate PEM, client key PEM)."""
    import ssl

    cert_path, key_path = server_files(folder)
    client_key = make_key("ec")
    client_cert = self_signed(client_key, "coop-client")
    (folder / "client-ca.pem").write_text(cert_pem(client_cert))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_path, key_path)
    tls.verify_mode = ssl.CERT_REQUIRED
    tls.load_verify_locations(folder / "client-ca.pem")
    return tls, str(cert_path), cert_pem(client_cert), key_pem(client_key)
