"""Backups on Google Drive through the Drive API v3 (BackupStorage).

Upload: a resumable session (POST /upload/drive/v3/files?uploadType=resumable, session URI in Location), then
the content in chunks (multiples of 256 KiB, `Content-Range: bytes a-b/*`, the last with the total). A cut
connection is resumed: the session is asked what it has (`Content-Range: bytes */*`, answer 308 with `Range`)
and the upload continues from there. Drive creates the file only when the last chunk arrives, so an
interrupted upload never appears in the folder. OAuth 2.0 with a refresh token (tokens cached in the vault).
Names are not unique in Drive: a new upload of a name replaces the older files of that name."""

from __future__ import annotations

import hashlib
from typing import BinaryIO
from urllib.parse import quote

from ..base import RETENTION_FIELDS, BackupStorage, CountingSink, Field, IntegrationError, fill
from ..http import HttpClient, OAuth2

CHUNK = 8 << 20            # a multiple of 256 KiB, as the resumable protocol requires
RESUME_TRIES = 5


class GoogleDriveStorage(BackupStorage):
    name = "google_drive"
    title = "Google Диск (Drive API v3)"
    chunk_size = CHUNK
    fields = (
        Field("folder_id", "Идентификатор папки", required=True, help="из адреса папки: …/folders/<идентификатор>"),
        Field("client_id", "Client ID приложения OAuth", required=True),
        Field("client_secret", "Client secret", secret=True, required=True),
        Field("refresh_token", "Refresh token", secret=True, required=True,
              help="выдаётся при авторизации с доступом drive.file"),
        Field("base_url", "Адрес API", "url", default="https://www.googleapis.com"),
        Field("token_url", "Адрес выдачи токенов", "url", default="https://oauth2.googleapis.com/token"),
    ) + RETENTION_FIELDS

    def _client(self, attempts: int = 4) -> HttpClient:
        oauth = OAuth2(self.setting("token_url"), self.setting("client_id"), self.setting("client_secret"),
                       scope="https://www.googleapis.com/auth/drive.file", grant="authorization_code")
        http = HttpClient(self, base_url=self.setting("base_url").rstrip("/"), oauth=oauth, attempts=attempts)
        http.seed_refresh_token(self.setting("refresh_token"))
        return http

    def _files(self, http: HttpClient, name: str | None = None) -> list[dict]:
        query = f"'{self.setting('folder_id')}' in parents and trashed = false"
        if name is not None:
            query += " and name = '" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"
        out, token = [], None
        while True:
            params = {"q": query, "fields": "nextPageToken,files(id,name,size)", "pageSize": "1000"}
            if token:
                params["pageToken"] = token
            r = http.get("/drive/v3/files", params=params, operation="list", raise_for_status=False)
            if r.status_code != 200:
                raise IntegrationError(f"Интеграция google_drive, list: сервер ответил {r.status_code}")
            body = r.json()
            out += body.get("files", [])
            token = body.get("nextPageToken")
            if not token:
                return out

    digest = hashlib.sha256     # files with binary content carry sha256Checksum (and md5Checksum)

    def stored_digest(self, name: str) -> str | None:
        """files.get?fields=sha256Checksum: Drive's SHA-256 of the stored file."""
        with self._client() as http:
            file_id = self._one(http, name)["id"]
            r = http.get(f"/drive/v3/files/{quote(file_id)}", params={"fields": "id,size,sha256Checksum"},
                         operation="metadata", raise_for_status=False)
        if r.status_code != 200:
            raise IntegrationError(f"Интеграция google_drive, metadata: сервер ответил {r.status_code}")
        return r.json().get("sha256Checksum") or None

    def _flat(self, name: str) -> str:
        self.object_parts(name)
        return name.replace("/", "__")     # one flat folder: the path goes into the name

    def put(self, name: str, source: bytes | BinaryIO) -> int:
        flat = self._flat(name)
        with self._client() as http, self._client(attempts=1) as once:
            older = [f["id"] for f in self._files(http, flat)]
            r = http.post("/upload/drive/v3/files", params={"uploadType": "resumable"}, operation="upload start",
                          retry_safe=True, json={"name": flat, "parents": [self.setting("folder_id")]},
                          headers={"X-Upload-Content-Type": "application/octet-stream"}, raise_for_status=False)
            session = r.headers.get("Location")
            if r.status_code != 200 or not session:
                raise IntegrationError(f"Интеграция google_drive, upload start: сервер ответил {r.status_code}")
            offset = 0
            pieces = fill(source, self.chunk_size)
            piece = next(pieces, b"")
            while True:
                following = next(pieces, None)
                last = following is None
                offset = self._send(once, session, piece, offset, last)
                if last:
                    break
                piece = following
            for file_id in older:   # the new one is complete: the older copies of the name go
                http.delete(f"/drive/v3/files/{quote(file_id)}", operation="delete", raise_for_status=False)
        return offset

    def _send(self, http: HttpClient, session: str, piece: bytes, offset: int, last: bool) -> int:
        """Send one chunk from `offset`; after a cut, ask the session what it has and send the rest."""
        start = offset
        for _ in range(RESUME_TRIES):
            part = piece[start - offset:]
            total = str(offset + len(piece)) if last else "*"
            header = f"bytes {start}-{start + len(part) - 1}/{total}" if part else f"bytes */{total}"
            try:
                r = http.put(session, content=part, operation="upload chunk", raise_for_status=False,
                             headers={"Content-Range": header})
            except IntegrationError:
                received = self._received(http, session)
                if received is None:
                    raise
                start = max(offset, received)
                continue
            if r.status_code in (200, 201) and last:
                return offset + len(piece)
            if r.status_code == 308:
                received = _range_end(r.headers.get("Range"))
                if received >= offset + len(piece):
                    return offset + len(piece)
                start = max(offset, received)
                continue
            raise IntegrationError(f"Интеграция google_drive, upload chunk: сервер ответил {r.status_code}")
        raise IntegrationError("Интеграция google_drive: загрузка прерывается снова и снова; попробуйте позже")

    def _received(self, http: HttpClient, session: str) -> int | None:
        try:
            r = http.put(session, content=b"", operation="upload status", raise_for_status=False,
                         headers={"Content-Range": "bytes */*"})
        except IntegrationError:
            return None
        return _range_end(r.headers.get("Range")) if r.status_code == 308 else None

    def _one(self, http: HttpClient, name: str) -> dict:
        found = self._files(http, self._flat(name))
        if not found:
            raise IntegrationError(f"Интеграция google_drive: копии {name} нет")
        return found[0]

    def download(self, name: str, sink: BinaryIO) -> int:
        counted = CountingSink(sink)
        with self._client() as http:
            file_id = self._one(http, name)["id"]
            r = http.get(f"/drive/v3/files/{quote(file_id)}", params={"alt": "media"}, operation="get",
                         raise_for_status=False, sink=counted)
            if r.status_code != 200:
                raise IntegrationError(f"Интеграция google_drive, get: сервер ответил {r.status_code}")
        return counted.size

    def list(self, prefix: str = "") -> list[tuple[str, int]]:
        with self._client() as http:
            files = self._files(http)
        out = {}
        for f in files:
            name = f["name"].replace("__", "/")
            if name.startswith(prefix):
                out[name] = int(f.get("size") or 0)
        return sorted(out.items())

    def delete(self, name: str) -> None:
        with self._client() as http:
            for f in self._files(http, self._flat(name)):
                r = http.delete(f"/drive/v3/files/{quote(f['id'])}", operation="delete", raise_for_status=False)
                if r.status_code not in (200, 204, 404):
                    raise IntegrationError(f"Интеграция google_drive, delete: сервер ответил {r.status_code}")

    def check(self) -> str:
        self.list("\0")
        return "папка на Google Диске доступна"


def _range_end(header: str | None) -> int:
    """Bytes the session holds, from `Range: bytes=0-N` (none yet without the header)."""
    if not header or "-" not in header:
        return 0
    return int(header.rsplit("-", 1)[1]) + 1
