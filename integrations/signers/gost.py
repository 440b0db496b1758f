"""ГОСТ Р 34.10-2012 signatures with Streebog (ГОСТ Р 34.11-2012) as detached CMS (DER), in pure Python:
gostcrypto for the curve arithmetic and the hash, asn1crypto for the CMS structure. The key (PKCS#8 PEM, as
OpenSSL's GOST engine writes it) and the certificate (PEM) come from the vault.

Conventions of CMS with GOST (RFC 4490/4491, Р 1323565.1.024): the digest is read as a little-endian
number, the signature is s‖r big-endian, the public key in the certificate is x‖y little-endian.
verify_cms() checks any detached CMS signature: GOST here, RSA and ECDSA through cryptography.
"""

from __future__ import annotations

from datetime import datetime, timezone

from asn1crypto import algos, cms, core, pem
from asn1crypto import x509 as ax509

from ..base import Field, IntegrationError, ReportSigner

GOST256, GOST512 = "1.2.643.7.1.1.1.1", "1.2.643.7.1.1.1.2"
STREEBOG256, STREEBOG512 = "1.2.643.7.1.1.2.2", "1.2.643.7.1.1.2.3"
DIGEST_OF = {GOST256: STREEBOG256, GOST512: STREEBOG512}
CURVES = {
    "1.2.643.7.1.2.1.1.1": "id-tc26-gost-3410-2012-256-paramSetA",
    "1.2.643.7.1.2.1.1.2": "id-tc26-gost-3410-2012-256-paramSetB",
    "1.2.643.7.1.2.1.1.3": "id-tc26-gost-3410-2012-256-paramSetC",
    "1.2.643.7.1.2.1.1.4": "id-tc26-gost-3410-2012-256-paramSetD",
    "1.2.643.2.2.35.1": "id-tc26-gost-3410-2012-256-paramSetB",   # CryptoPro-A
    "1.2.643.2.2.35.2": "id-tc26-gost-3410-2012-256-paramSetC",   # CryptoPro-B
    "1.2.643.2.2.35.3": "id-tc26-gost-3410-2012-256-paramSetD",   # CryptoPro-C
    "1.2.643.2.2.36.0": "id-tc26-gost-3410-2012-256-paramSetB",   # CryptoPro-XchA
    "1.2.643.2.2.36.1": "id-tc26-gost-3410-2012-256-paramSetD",   # CryptoPro-XchB
    "1.2.643.7.1.2.1.2.1": "id-tc26-gost-3410-12-512-paramSetA",
    "1.2.643.7.1.2.1.2.2": "id-tc26-gost-3410-12-512-paramSetB",
    "1.2.643.7.1.2.1.2.3": "id-tc26-gost-3410-2012-512-paramSetC",
}


class _Params(core.Sequence):
    _fields = [("public_key_param_set", core.ObjectIdentifier),
               ("digest_param_set", core.ObjectIdentifier, {"optional": True})]


class _Algorithm(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class _Spki(core.Sequence):
    _fields = [("algorithm", _Algorithm), ("public_key", core.OctetBitString)]


def _spki(cert: ax509.Certificate) -> _Spki:
    """The certificate's public key info read by our own classes (asn1crypto does not know GOST keys)."""
    return _Spki.load(cert["tbs_certificate"]["subject_public_key_info"].dump())


class _Pkcs8(core.Sequence):
    _fields = [("version", core.Integer), ("algorithm", _Algorithm), ("private_key", core.OctetString),
               ("attributes", core.Any, {"implicit": 0, "optional": True})]


def _der(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return data


def streebog(oid: str, data: bytes) -> bytes:
    import gostcrypto

    h = gostcrypto.gosthash.new("streebog256" if oid == STREEBOG256 else "streebog512", data=data)
    return bytes(h.digest())


def _curve(oid: str, params: core.Any) -> tuple[str, int]:
    try:
        param_set = _Params.load(params.dump())["public_key_param_set"].dotted
    except (ValueError, TypeError, AttributeError):
        raise IntegrationError("Интеграция gost: не читаются параметры ключа ГОСТ") from None
    if param_set not in CURVES:
        raise IntegrationError(f"Интеграция gost: набор параметров {param_set} не поддерживается")
    size = 32 if oid == GOST256 else 64
    return CURVES[param_set], size


def _signer(curve: str, size: int):
    import gostcrypto

    mode = gostcrypto.gostsignature.MODE_256 if size == 32 else gostcrypto.gostsignature.MODE_512
    return gostcrypto.gostsignature.new(mode, gostcrypto.gostsignature.CURVES_R_1323565_1_024_2019[curve])


def _public_key(cert: ax509.Certificate) -> tuple[str, bytes, str, int]:
    spki = _spki(cert)
    oid = spki["algorithm"]["algorithm"].dotted
    if oid not in DIGEST_OF:
        raise IntegrationError(f"Сертификат не ГОСТ Р 34.10-2012 (алгоритм {oid})")
    curve, size = _curve(oid, spki["algorithm"]["parameters"])
    point = core.OctetString.load(spki["public_key"].native).native
    if len(point) != 2 * size:
        raise IntegrationError("Сертификат: открытый ключ ГОСТ неверной длины")
    return oid, point[:size][::-1] + point[size:][::-1], curve, size   # x‖y big-endian for gostcrypto


class GostSigner(ReportSigner):
    name = "gost"
    title = "Подпись ГОСТ Р 34.10-2012 (CMS, Стрибог)"
    signature_extension = ".sig"
    requires = ("gostcrypto", "asn1crypto")
    fields = (
        Field("certificate", "Сертификат (PEM)", "pem", secret=True, required=True),
        Field("private_key", "Закрытый ключ ГОСТ (PKCS#8 PEM, без пароля)", "pem", secret=True, required=True),
    )

    def _material(self):
        try:
            cert = ax509.Certificate.load(_der(self.setting("certificate")))
            _spki(cert)
        except (ValueError, TypeError, KeyError):
            raise IntegrationError("Интеграция gost: сертификат не читается (нужен PEM)") from None
        oid, public, curve, size = _public_key(cert)
        text = self.setting("private_key")
        if "ENCRYPTED PRIVATE KEY" in text:
            raise IntegrationError("Интеграция gost: ключ защищён паролем; сохраните его без пароля — "
                                   "в хранилище он и так зашифрован")
        try:
            key = _Pkcs8.load(_der(text))
            key_oid = key["algorithm"]["algorithm"].dotted
            raw = key["private_key"].native
        except (ValueError, TypeError, KeyError):
            raise IntegrationError("Интеграция gost: закрытый ключ не читается (нужен PKCS#8 PEM)") from None
        if key_oid != oid:
            raise IntegrationError("Интеграция gost: ключ и сертификат разных алгоритмов")
        if len(raw) == size + 2 and raw[0] == 0x04:          # OCTET STRING inside the OCTET STRING
            raw = raw[2:]
        if len(raw) > 2 and raw[0] == 0x02:                  # INTEGER (big-endian)
            private = core.Integer.load(raw).native.to_bytes(size, "big")
        else:
            private = raw[::-1]                              # little-endian, as OpenSSL's GOST engine writes it
        signer = _signer(curve, size)
        if bytes(signer.public_key_generate(bytearray(private))) != public:
            raise IntegrationError("Интеграция gost: закрытый ключ не соответствует сертификату")
        return cert, oid, curve, size, private

    def sign(self, data: bytes) -> bytes:
        with self.audited("sign") as call:
            cert, oid, curve, size, private = self._material()
            not_after = cert["tbs_certificate"]["validity"]["not_after"].native
            if not_after < datetime.now(timezone.utc):
                raise IntegrationError(f"Интеграция gost: срок действия сертификата истёк {not_after:%d.%m.%Y}")
            digest_oid = DIGEST_OF[oid]
            attrs = cms.CMSAttributes([
                cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
                cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": datetime.now(timezone.utc)})]}),
                cms.CMSAttribute({"type": "message_digest", "values": [streebog(digest_oid, data)]}),
            ])
            h = streebog(digest_oid, attrs.dump())
            rs = bytes(_signer(curve, size).sign(bytearray(private), bytearray(h[::-1])))
            signature = rs[size:] + rs[:size]                # s‖r
            signer_info = cms.SignerInfo({
                "version": "v1",
                "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
                    "issuer": cert.issuer, "serial_number": cert.serial_number})}),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": digest_oid}),
                "signed_attrs": attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": oid}),
                "signature": signature,
            })
            signed = cms.SignedData({
                "version": "v1", "digest_algorithms": [algos.DigestAlgorithm({"algorithm": digest_oid})],
                "encap_content_info": {"content_type": "data"}, "certificates": [cert],
                "signer_infos": [signer_info]})
            out = cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
            call.nbytes = len(data)
        return out

    def expiries(self) -> list[tuple[str, datetime]]:
        cert = self._material()[0]
        return [(f"сертификат ГОСТ {cert.subject.human_friendly}",
                 cert["tbs_certificate"]["validity"]["not_after"].native.replace(tzinfo=None))]

    def check(self) -> str:
        cert = self._material()[0]
        return (f"ключ и сертификат ГОСТ подходят друг другу; сертификат действует до "
                f"{cert['tbs_certificate']['validity']['not_after'].native:%d.%m.%Y}")


# -- verification of any detached CMS signature -----------------------------------------------------

def verify_cms(data: bytes, signature: bytes) -> str:
    """Check a detached CMS signature of data; a Russian one-line description of the signer, or IntegrationError."""
    try:
        info = cms.ContentInfo.load(_der(signature))
        if info["content_type"].native != "signed_data":
            raise ValueError
        signed = info["content"]
        signer = signed["signer_infos"][0]
        certs = [c.chosen for c in signed["certificates"]] if len(signed["certificates"]) else []
        sid = signer["sid"].chosen
        cert = next(c for c in certs if c.issuer == sid["issuer"] and c.serial_number == sid["serial_number"].native)
    except (ValueError, TypeError, KeyError, IndexError, StopIteration):
        raise IntegrationError("Файл подписи не читается как подпись CMS с сертификатом подписанта") from None
    digest_oid = signer["digest_algorithm"]["algorithm"].dotted
    attrs = signer["signed_attrs"]
    if not attrs.native:
        raise IntegrationError("Подпись без подписанных атрибутов не поддерживается")
    got = next((a["values"][0].native for a in attrs if a["type"].native == "message_digest"), None)
    if digest_oid in (STREEBOG256, STREEBOG512):
        want = streebog(digest_oid, data)
    else:
        import hashlib

        name = signer["digest_algorithm"]["algorithm"].native
        want = hashlib.new(name, data).digest()
    if got != want:
        raise IntegrationError("Подпись не соответствует файлу: файл изменён после подписания или подпись от другого файла")
    signed_bytes = cms.CMSAttributes(list(attrs)).dump(force=True)
    sig = signer["signature"].native
    oid = _spki(cert)["algorithm"]["algorithm"].dotted
    if oid in DIGEST_OF:
        _, public, curve, size = _public_key(cert)
        h = streebog(digest_oid, signed_bytes)
        ok = len(sig) == 2 * size and _signer(curve, size).verify(bytearray(public), bytearray(h[::-1]),
                                                                    bytearray(sig[size:] + sig[:size]))
    else:
        ok = _verify_classic(cert, signer, signed_bytes, sig)
    if not ok:
        raise IntegrationError("Подпись неверна: подписанные данные не сходятся с открытым ключом сертификата")
    when = next((a["values"][0].native for a in attrs if a["type"].native == "signing_time"), None)
    return (f"подписант: {cert.subject.human_friendly}" +
            (f"; время подписи {when.astimezone(timezone.utc):%d.%m.%Y %H:%M} UTC" if when else ""))


def _verify_classic(cert: ax509.Certificate, signer, signed_bytes: bytes, sig: bytes) -> bool:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    public = x509.load_der_x509_certificate(cert.dump()).public_key()
    algo = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512(),
            "sha1": hashes.SHA1()}.get(signer["digest_algorithm"]["algorithm"].native)
    if algo is None:
        raise IntegrationError("Алгоритм хеширования подписи не поддерживается")
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(sig, signed_bytes, padding.PKCS1v15(), algo)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(sig, signed_bytes, ec.ECDSA(algo))
        else:
            raise IntegrationError("Ключ сертификата не RSA, не ECDSA и не ГОСТ")
    except InvalidSignature:
        return False
    return True
