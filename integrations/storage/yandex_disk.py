"""Backups on Yandex Disk through its REST API (BackupStorage).

Upload: GET /v1/disk/resources/upload?path=…&overwrite=true gives an upload href; the content is PUT there
(streamed) under a temporary `.part` name and then moved (POST /v1/disk/resources/move) to its own name, waiting
for the asynchronous operation when the API answers 202. An interrupted upload leaves no file or only a
`.part`, which list() ignores and the next run replaces. Authorization: `OAuth <token>`."""

from __future__ import annotations

import hashlib
import time
from typing import BinaryIO

from ..base import RETENTION_FIELDS, BackupStorage, CountingSink, Field, IntegrationError, chunks
from ..http import HttpClient

PIECE = 64 << 10


class YandexDiskStorage(BackupStorage):
    name = "yandex_disk"
    title = "Яндекс Диск (REST API)"
    fields = (
        Field("token", "OAuth-токен приложения", secret=True, required=True,
              help="доступ cloud_api:disk.app_folder или cloud_api:disk.write"),
        Field("folder", "Папка на Диске", default="app:/coop", help="app:/… — папка приложения; disk:/… — весь Диск"),
        Field("base_url", "Адрес API", "url", default="https://cloud-api.yandex.net"),
    ) + RETENTION_FIELDS

    digest = hashlib.sha256     # the Disk keeps "sha256" (and "md5") in a file's metadata

    def _client(self) -> HttpClient:
        return HttpClient(self, base_url=self.setting("base_url").rstrip("/"), attempts=3)

    def stored_digest(self, name: str) -> str | None:
        """GET /v1/disk/resources?path=…&fields=sha256: the Disk's SHA-256 of the stored file."""
        with self._client() as http:
            r = http.get("/v1/disk/resources", params={"path": self._path(name), "fields": "sha256,size"},
                         headers=self._headers(), operation="metadata", raise_for_status=False)
        if r.status_code != 200:
            raise self._fail("metadata", r)
        return r.json().get("sha256") or None

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"OAuth {self.setting('token')}", "Accept": "application/json"}

    def _path(self, name: str) -> str:
        return f"{self.setting('folder').rstrip('/')}/{'/'.join(self.object_parts(name))}"

    def _fail(self, operation: str, r) -> IntegrationError:
        try:
            detail = r.json().get("description") or r.json().get("error")
        except ValueError:
            detail = None
        return IntegrationError(f"Интеграция yandex_disk, {operation}: сервер ответил {r.status_code}"
                                f"{' (' + str(detail) + ')' if detail else ''}")

    def _ensure_folders(self, http: HttpClient, path: str) -> None:
        root, _, rest = path.rpartition("/")[0].partition(":/")
        current = f"{root}:"
        for part in [p for p in rest.split("/") if p]:
            current += f"/{part}"
            r = http.put("/v1/disk/resources", params={"path": current}, headers=self._headers(), operation="mkdir",
                         raise_for_status=False)
            if r.status_code not in (201, 409):
                raise self._fail("mkdir", r)

    def put(self, name: str, source: bytes | BinaryIO) -> int:
        target = self._path(name)
        temp = target + ".part"
        with self._client() as http:
            self._ensure_folders(http, target)
            r = http.get("/v1/disk/resources/upload", params={"path": temp, "overwrite": "true"},
                         headers=self._headers(), operation="upload link", raise_for_status=False)
            if r.status_code != 200:
                raise self._fail("upload link", r)
            href = r.json()["href"]
            size = [0]

            def pieces():
                for piece in chunks(source, PIECE):
                    size[0] += len(piece)
                    yield piece
            body = bytes(source) if isinstance(source, (bytes, bytearray)) else pieces()
            r = http.put(href, content=body, operation="upload", raise_for_status=False)
            if r.status_code not in (201, 202):
                raise self._fail("upload", r)
            if isinstance(body, bytes):
                size[0] = len(body)
            r = http.post("/v1/disk/resources/move", params={"from": temp, "path": target, "overwrite": "true"},
                          headers=self._headers(), operation="move", retry_safe=True, raise_for_status=False)
            if r.status_code == 202:
                self._wait(http, r.json()["href"])
            elif r.status_code != 201:
                raise self._fail("move", r)
        return size[0]

    def _wait(self, http: HttpClient, href: str, timeout: float = 600) -> None:
        """An asynchronous operation (move, delete): poll until success or failure."""
        deadline = time.monotonic() + timeout
        delay = 0.2
        while time.monotonic() < deadline:
            r = http.get(href, headers=self._headers(), operation="operation status", raise_for_status=False)
            if r.status_code != 200:
                raise self._fail("operation status", r)
            status = r.json().get("status")
            if status == "success":
                return
            if status == "failed":
                raise IntegrationError("Интеграция yandex_disk: Диск не смог завершить операцию")
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise IntegrationError("Интеграция yandex_disk: операция на Диске не завершилась вовремя")

    def download(self, name: str, sink: BinaryIO) -> int:
        counted = CountingSink(sink)
        with self._client() as http:
            r = http.get("/v1/disk/resources/download", params={"path": self._path(name)}, headers=self._headers(),
                         operation="download link", raise_for_status=False)
            if r.status_code == 404:
                raise IntegrationError(f"Интеграция yandex_disk: копии {name} нет")
            if r.status_code != 200:
                raise self._fail("download link", r)
            href = r.json()["href"]
            for _ in range(3):   # the download href answers with a redirect to the storage node
                r = http.get(href, operation="download", raise_for_status=False, sink=counted)
                if r.status_code in (301, 302, 303, 307) and r.headers.get("Location"):
                    href = r.headers["Location"]
                    continue
                break
            if r.status_code != 200:
                raise self._fail("download", r)
        return counted.size

    def list(self, prefix: str = "") -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        folder = self.setting("folder").rstrip("/")
        with self._client() as http:
            pending = [folder]
            while pending:
                path = pending.pop()
                offset = 0
                while True:
                    r = http.get("/v1/disk/resources", params={"path": path, "limit": "1000", "offset": str(offset)},
                                 headers=self._headers(), operation="list", raise_for_status=False)
                    if r.status_code == 404:
                        break
                    if r.status_code != 200:
                        raise self._fail("list", r)
                    embedded = r.json().get("_embedded", {})
                    items = embedded.get("items", [])
                    for item in items:
                        rel = item["path"][len(folder) + 1:] if item["path"].startswith(folder + "/") else item["name"]
                        if item.get("type") == "dir":
                            pending.append(item["path"])
                        elif rel.startswith(prefix) and not rel.endswith(".part"):
                            out.append((rel, int(item.get("size") or 0)))
                    offset += len(items)
                    if not items or offset >= int(embedded.get("total") or 0):
                        break
        return sorted(out)

    def delete(self, name: str) -> None:
        with self._client() as http:
            r = http.delete("/v1/disk/resources", params={"path": self._path(name), "permanently": "true"},
                            headers=self._headers(), operation="delete", raise_for_status=False)
            if r.status_code == 202:
                self._wait(http, r.json()["href"])
            elif r.status_code not in (204, 404):
                raise self._fail("delete", r)

    def check(self) -> str:
        self.list("\0")
        return f"папка {self.setting('folder')} на Диске доступна"
