"""Backups in S3-compatible object storage (BackupStorage): Yandex Object Storage, VK Cloud, MinIO, AWS.

Path-style addressing (endpoint/bucket/key) and AWS Signature Version 4, signed per attempt by an httpx
Auth flow on the shared HTTP client (HTTPS, retries, audit of every call)."""

from __future__ import annotations

import hashlib
import hmac
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import BinaryIO, Iterator
from urllib.parse import quote

import httpx

from ..base import RETENTION_FIELDS, BackupStorage, BlockDigest, CountingSink, Field, IntegrationError, fill
from ..http import HttpClient

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
PART_SIZE = 16 << 20      # S3 parts are at least 5 MiB (except the last); 16 MiB keeps memory low


def _etag(parts: list[bytes]) -> str:
    if len(parts) <= 1:
        return parts[0].hex() if parts else hashlib.md5(b"").hexdigest()
    return f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}"


def etag_hasher() -> BlockDigest:
    """The ETag S3 gives an object put() stored, computed as the bytes pass: the MD5 of a single PUT, or for a
    multipart upload (parts of PART_SIZE) the MD5 of the parts' MD5s followed by "-<number of parts>"."""
    return BlockDigest(PART_SIZE, hashlib.md5, _etag)


def _xml(body: bytes) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError:
        raise IntegrationError("Интеграция s3: сервер прислал неразборчивый ответ") from None


def _chain(*heads_and_rest):
    *heads, rest = heads_and_rest
    yield from heads
    yield from rest


class SigV4(httpx.Auth):
    """AWS Signature Version 4 for S3 (headers: host, x-amz-content-sha256, x-amz-date)."""

    requires_request_body = True

    def __init__(self, access_key: str, secret_key: str, region: str, service: str = "s3", clock=None):
        self.access_key, self.secret_key, self.region, self.service = access_key, secret_key, region, service
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        self.sign(request)
        yield request

    def sign(self, request: httpx.Request) -> None:
        now = self.clock()
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        payload = hashlib.sha256(request.content).hexdigest()
        request.headers["x-amz-date"] = amz_date
        request.headers["x-amz-content-sha256"] = payload
        host = request.url.netloc.decode("ascii")
        path = request.url.raw_path.split(b"?", 1)[0].decode("ascii") or "/"
        query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                         for k, v in sorted(request.url.params.multi_items()))
        signed = "host;x-amz-content-sha256;x-amz-date"
        canonical = "\n".join([request.method, path, query,
                               f"host:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{amz_date}\n", signed, payload])
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + self.secret_key).encode()
        for part in (day, self.region, self.service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        request.headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                                            f"SignedHeaders={signed}, Signature={signature}")


class S3Storage(BackupStorage):
    name = "s3"
    title = "Объектное хранилище S3 (Yandex Object Storage, MinIO, AWS)"
    fields = (
        Field("endpoint", "Адрес сервиса", "url", required=True, help="например https://storage.yandexcloud.net"),
        Field("bucket", "Бакет", required=True),
        Field("access_key", "Идентификатор ключа", required=True),
        Field("secret_key", "Секретный ключ", secret=True, required=True),
        Field("region", "Регион", default="ru-central1"),
        Field("ca_file", "Файл доверенного сертификата (CA)", "path"),
    ) + RETENTION_FIELDS

    digest = staticmethod(etag_hasher)

    def stored_digest(self, name: str) -> str | None:
        """HEAD: the object's ETag; None where it is not an MD5 (objects encrypted with SSE-KMS or SSE-C)."""
        self.object_parts(name)
        with self._client() as http:
            r = http.request("HEAD", self._url(name), operation="head", raise_for_status=False)
        if r.status_code != 200:
            raise IntegrationError(f"Интеграция s3, head: сервер ответил {r.status_code}")
        if r.headers.get("x-amz-server-side-encryption") == "aws:kms" or \
                r.headers.get("x-amz-server-side-encryption-customer-algorithm"):
            return None
        return r.headers.get("ETag", "").strip('"') or None

    def _client(self) -> HttpClient:
        auth = SigV4(self.setting("access_key"), self.setting("secret_key"), self.setting("region"))
        return HttpClient(self, ca_file=self.setting("ca_file"), auth=auth)

    def _url(self, name: str = "") -> str:
        base = f"{self.setting('endpoint').rstrip('/')}/{quote(self.setting('bucket'), safe='')}"
        return f"{base}/{quote(name, safe='/-_.~')}" if name else base

    def put(self, name: str, source: bytes | BinaryIO) -> int:
        """One PUT for a small object; a multipart upload (parts of PART_SIZE) for a stream that is larger.

        A multipart object appears only when CompleteMultipartUpload succeeds; a failed one is aborted."""
        self.object_parts(name)
        pieces = fill(source, PART_SIZE)
        first = next(pieces, b"")
        second = next(pieces, None)
        with self._client() as http:
            if second is None:
                http.put(self._url(name), content=first, operation="put",
                         headers={"Content-Type": "application/octet-stream"})
                return len(first)
            r = http.post(self._url(name), params={"uploads": ""}, operation="multipart start", retry_safe=True,
                          headers={"Content-Type": "application/octet-stream"})
            upload_id = _xml(r.content).findtext(f"{_NS}UploadId")
            if not upload_id:
                raise IntegrationError("Интеграция s3: сервер не выдал UploadId для загрузки по частям")
            size, etags = 0, []
            try:
                for number, piece in enumerate(_chain(first, second, pieces), start=1):
                    r = http.put(self._url(name), params={"partNumber": str(number), "uploadId": upload_id},
                                 content=piece, operation="multipart part")
                    etags.append(r.headers.get("ETag", ""))
                    size += len(piece)
                body = "".join(f"<Part><PartNumber>{i}</PartNumber><ETag>{e}</ETag></Part>"
                               for i, e in enumerate(etags, start=1))
                r = http.post(self._url(name), params={"uploadId": upload_id}, operation="multipart complete",
                              retry_safe=True, content=f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>"
                              .encode(), headers={"Content-Type": "application/xml"})
                if _xml(r.content).tag.endswith("Error"):
                    raise IntegrationError("Интеграция s3: сервер не собрал загруженные части")
            except BaseException:
                http.delete(self._url(name), params={"uploadId": upload_id}, operation="multipart abort",
                            raise_for_status=False)
                raise
        return size

    def download(self, name: str, sink: BinaryIO) -> int:
        self.object_parts(name)
        counted = CountingSink(sink)
        with self._client() as http:
            r = http.get(self._url(name), operation="get", raise_for_status=False, sink=counted)
        if r.status_code == 404:
            raise IntegrationError(f"Интеграция s3: копии {name} нет")
        if r.status_code >= 400:
            raise IntegrationError(f"Интеграция s3, get: сервер ответил {r.status_code}")
        return counted.size

    def list(self, prefix: str = "") -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        token = None
        with self._client() as http:
            while True:
                params = {"list-type": "2", "prefix": prefix}
                if token:
                    params["continuation-token"] = token
                r = http.get(self._url(), params=params, operation="list")
                root = _xml(r.content)
                out += [(c.findtext(f"{_NS}Key"), int(c.findtext(f"{_NS}Size") or 0))
                        for c in root.iter(f"{_NS}Contents")]
                token = root.findtext(f"{_NS}NextContinuationToken")
                if root.findtext(f"{_NS}IsTruncated") != "true" or not token:
                    break
        return sorted(out)

    def delete(self, name: str) -> None:
        self.object_parts(name)
        with self._client() as http:
            r = http.delete(self._url(name), operation="delete", raise_for_status=False)
        if r.status_code >= 400 and r.status_code != 404:
            raise IntegrationError(f"Интеграция s3, delete: сервер ответил {r.status_code}")

    def check(self) -> str:
        self.list("\0")
        return f"бакет {self.setting('bucket')} доступен"
