"""Detached CMS/PKCS#7 signatures (ReportSigner) with an RSA or ECDSA key, through cryptography."""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from ..base import Field, IntegrationError, ReportSigner


class CmsSigner(ReportSigner):
    name = "cms"
    title = "Подпись CMS/PKCS#7 (RSA, ECDSA)"
    signature_extension = ".p7s"
    fields = (
        Field("certificate", "Сертификат (PEM)", "pem", secret=True, required=True),
        Field("private_key", "Закрытый ключ (PEM)", "pem", secret=True, required=True),
        Field("key_password", "Пароль закрытого ключа", secret=True),
    )

    def _material(self):
        try:
            cert = x509.load_pem_x509_certificate(self.setting("certificate").encode())
        except ValueError:
            raise IntegrationError("Интеграция cms: сертификат не читается (нужен PEM)") from None
        password = self.setting("key_password")
        try:
            key = serialization.load_pem_private_key(self.setting("private_key").encode(),
                                                     password.encode() if password else None)
        except (ValueError, TypeError):
            raise IntegrationError("Интеграция cms: закрытый ключ не читается (PEM) или пароль ключа неверен") from None
        if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise IntegrationError("Интеграция cms: поддерживаются ключи RSA и ECDSA")
        if key.public_key().public_numbers() != cert.public_key().public_numbers():
            raise IntegrationError("Интеграция cms: закрытый ключ не соответствует сертификату")
        return cert, key

    def sign(self, data: bytes) -> bytes:
        with self.audited("sign") as call:
            cert, key = self._material()
            now = datetime.now(cert.not_valid_after_utc.tzinfo)
            if cert.not_valid_after_utc < now:
                raise IntegrationError(f"Интеграция cms: срок действия сертификата истёк "
                                       f"{cert.not_valid_after_utc:%d.%m.%Y}")
            signature = (pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, key, hashes.SHA256())
                         .sign(serialization.Encoding.DER,
                               [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]))
            call.nbytes = len(data)
        return signature

    def expiries(self) -> list[tuple[str, datetime]]:
        cert, _ = self._material()
        subject = cert.subject.rfc4514_string()
        return [(f"сертификат {subject}", cert.not_valid_after_utc.replace(tzinfo=None))]

    def check(self) -> str:
        cert, _ = self._material()
        return f"ключ и сертификат подходят друг другу; сертификат действует до {cert.not_valid_after_utc:%d.%m.%Y}"
