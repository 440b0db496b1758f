"""Backups on a WebDAV server (BackupStorage): Nextcloud, Yandex Disk's WebDAV, a NAS. Uses the shared HTTP
client (HTTPS, retries of the idempotent PUT/GET/DELETE/PROPFIND, audit of every call)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import BinaryIO
from urllib.parse import quote, unquote, urlsplit

from ..base import RETENTION_FIELDS, BackupStorage, CountingSink, Field, IntegrationError, chunks
from ..http import HttpClient

_DAV = "{DAV:}"
UPLOAD_PIECE = 64 << 10  # bytes per chunk of a streamed (chunked) PUT; servers that re-slice big chunks stay fast
_PROPFIND = (b'<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><prop>'
             b'<resourcetype/><getcontentlength/></prop></propfind>')


class WebDavStorage(BackupStorage):
    name = "webdav"
    title = "WebDAV (Nextcloud, Яндекс Диск, NAS)"
    fields = (
        Field("url", "Адрес папки WebDAV", "url", required=True, help="например https://webdav.yandex.ru/coop/"),
        Field("username", "Логин"),
        Field("password", "Пароль", secret=True),
        Field("ca_file", "Файл доверенного сертификата (CA)", "path"),
    ) + RETENTION_FIELDS

    def __init__(self, settings, ctx, transport=None):
        super().__init__(settings, ctx)
        self._transport = transport

    @property
    def base(self) -> str:
        return self.setting("url").rstrip("/") + "/"

    def _client(self) -> HttpClient:
        user = self.setting("username")
        return HttpClient(self, transport=self._transport, ca_file=self.setting("ca_file"),
                          basic_auth=(user, self.setting("password") or "") if user else None)

    def _url(self, parts: tuple[str, ...], collection: bool = False) -> str:
        return self.base + "/".join(quote(p) for p in parts) + ("/" if collection else "")

    def put(self, name: str, source: bytes | BinaryIO) -> int:
        """PUT to <name>.part (streamed), then MOVE to the name: a cut upload leaves only a .part behind."""
        parts = self.object_parts(name)
        content = bytes(source) if isinstance(source, (bytes, bytearray)) else source
        temp = parts[:-1] + (parts[-1] + ".part",)
        with self._client() as http:
            for depth in range(1, len(parts)):  # parent collections; 405 means it exists already
                r = http.request("MKCOL", self._url(parts[:depth], collection=True), operation="mkcol",
                                 raise_for_status=False, retry_safe=True)
                if r.status_code == 409:
                    raise IntegrationError(f"Интеграция webdav: папки {self.base} нет на сервере; создайте её")
                if r.status_code not in (201, 405):
                    raise IntegrationError(f"Интеграция webdav: не удалось создать папку "
                                           f"{'/'.join(parts[:depth])} (ответ {r.status_code})")
            counted = _Counter(content)
            http.put(self._url(temp), content=counted.pieces(), operation="put",
                     headers={"Content-Type": "application/octet-stream"})
            http.request("MOVE", self._url(temp), operation="move", retry_safe=True,
                         headers={"Destination": quote(self._url(parts), safe=":/%@[]"), "Overwrite": "T"})
        return counted.size

    def download(self, name: str, sink: BinaryIO) -> int:
        counted = CountingSink(sink)
        with self._client() as http:
            r = http.get(self._url(self.object_parts(name)), operation="get", raise_for_status=False,
                         sink=counted)
        if r.status_code == 404:
            raise IntegrationError(f"Интеграция webdav: копии {name} нет")
        if r.status_code >= 400:
            raise IntegrationError(f"Интеграция webdav, get: сервер ответил {r.status_code}")
        return counted.size

    def list(self, prefix: str = "") -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        root_path = unquote(urlsplit(self.base).path)
        with self._client() as http:
            pending = [self.base]
            while pending:
                url = pending.pop()
                r = http.request("PROPFIND", url, operation="list", raise_for_status=False,
                                 headers={"Depth": "1", "Content-Type": "application/xml"}, content=_PROPFIND)
                if r.status_code == 404:
                    continue
                if r.status_code != 207:
                    raise IntegrationError(f"Интеграция webdav, list: сервер ответил {r.status_code}")
                for href, is_dir, size in _multistatus(r.content):
                    path = unquote(urlsplit(href).path)
                    if not path.startswith(root_path) or path.rstrip("/") == unquote(urlsplit(url).path).rstrip("/"):
                        continue
                    rel = path[len(root_path):].strip("/")
                    if is_dir:
                        pending.append(self.base + quote(rel) + "/")
                    elif rel.startswith(prefix) and not rel.endswith(".part"):
                        out.append((rel, size))
        return sorted(out)

    def delete(self, name: str) -> None:
        with self._client() as http:
            r = http.delete(self._url(self.object_parts(name)), operation="delete", raise_for_status=False)
        if r.status_code >= 400 and r.status_code != 404:
            raise IntegrationError(f"Интеграция webdav, delete: сервер ответил {r.status_code}")

    def check(self) -> str:
        self.list("\0")  # a PROPFIND of the folder: proves address, login and certificate
        return f"папка {self.base} доступна"


class _Counter:
    """Counts the bytes of a body going up."""

    def __init__(self, source: bytes | BinaryIO):
        self.source, self.size = source, 0

    def pieces(self):
        if isinstance(self.source, bytes):
            self.size = len(self.source)
            return self.source
        return self._stream()

    def _stream(self):
        for piece in chunks(self.source, UPLOAD_PIECE):
            self.size += len(piece)
            yield piece


def _multistatus(body: bytes) -> list[tuple[str, bool, int]]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise IntegrationError("Интеграция webdav: сервер прислал неразборчивый ответ на PROPFIND") from None
    out = []
    for resp in root.iter(f"{_DAV}response"):
        href = resp.findtext(f"{_DAV}href") or ""
        is_dir = resp.find(f".//{_DAV}resourcetype/{_DAV}collection") is not None
        size = resp.findtext(f".//{_DAV}getcontentlength")
        out.append((href, is_dir, int(size) if size and size.isdigit() else 0))
    return out
