"""Backups on Dropbox through the API v2 (BackupStorage).

Upload: an upload session (files/upload_session/start, append_v2, finish with the commit), in chunks. The file
appears only when `finish` commits it, so an interrupted upload never looks like a backup. A cut append is sent
again from the offset the session reports (`incorrect_offset` with `correct_offset`). OAuth 2.0 with a refresh
token (short-lived access tokens cached in the vault). Two hosts: the RPC API and the content API."""

from __future__ import annotations

import hashlib
import json
from typing import BinaryIO

from ..base import RETENTION_FIELDS, BackupStorage, BlockDigest, CountingSink, Field, IntegrationError, fill
from ..http import HttpClient, OAuth2

CHUNK = 8 << 20       # Dropbox accepts up to 150 MB per request; chunks are multiples of 4 MiB
RESUME_TRIES = 5
HASH_BLOCK = 4 << 20  # content_hash: SHA-256 of the concatenated SHA-256 of each 4 MiB block


def content_hasher() -> BlockDigest:
    """Dropbox's content_hash (https://www.dropbox.com/developers/reference/content-hash), computed as the bytes pass."""
    return BlockDigest(HASH_BLOCK, hashlib.sha256, lambda blocks: hashlib.sha256(b"".join(blocks)).hexdigest())


class DropboxStorage(BackupStorage):
    name = "dropbox"
    title = "Dropbox (API v2)"
    chunk_size = CHUNK
    fields = (
        Field("folder", "Папка", default="/coop", help="например /coop; для приложения с доступом App folder — "
                                                        "внутри его папки"),
        Field("app_key", "App key", required=True),
        Field("app_secret", "App secret", secret=True, required=True),
        Field("refresh_token", "Refresh token", secret=True, required=True,
              help="выдаётся при авторизации с token_access_type=offline"),
        Field("base_url", "Адрес API", "url", default="https://api.dropboxapi.com"),
        Field("content_url", "Адрес API содержимого", "url", default="https://content.dropboxapi.com"),
    ) + RETENTION_FIELDS

    def _client(self, content: bool = False, attempts: int = 4) -> HttpClient:
        base = self.setting("base_url").rstrip("/")
        oauth = OAuth2(f"{base}/oauth2/token", self.setting("app_key"), self.setting("app_secret"),
                       grant="authorization_code")
        http = HttpClient(self, base_url=(self.setting("content_url") if content else base).rstrip("/"), oauth=oauth,
                          attempts=attempts)
        http.seed_refresh_token(self.setting("refresh_token"))
        return http

    digest = staticmethod(content_hasher)

    def stored_digest(self, name: str) -> str | None:
        """files/get_metadata: the content_hash of the stored file."""
        with self._client() as http:
            r = http.post("/2/files/get_metadata", json={"path": self._path(name)}, operation="get_metadata",
                          retry_safe=True, raise_for_status=False)
        if r.status_code != 200:
            raise self._fail("get_metadata", r)
        return r.json().get("content_hash") or None

    def _path(self, name: str) -> str:
        return f"{self.setting('folder').rstrip('/')}/{'/'.join(self.object_parts(name))}"

    @staticmethod
    def _arg(value: dict) -> str:
        # HTTP headers are ASCII: Dropbox asks for non-ASCII characters escaped as \\uXXXX
        return json.dumps(value, ensure_ascii=True)

    def _content_call(self, http: HttpClient, endpoint: str, arg: dict, body: bytes = b"", **kw):
        return http.post(f"/2/files/{endpoint}", content=body, operation=endpoint, raise_for_status=False,
                         headers={"Dropbox-API-Arg": self._arg(arg), "Content-Type": "application/octet-stream"}, **kw)

    def put(self, name: str, source: bytes | BinaryIO) -> int:
        path = self._path(name)
        with self._client(content=True, attempts=1) as http:
            r = self._content_call(http, "upload_session/start", {"close": False})
            if r.status_code != 200:
                raise self._fail("upload_session/start", r)
            session = r.json()["session_id"]
            offset = 0
            pieces = fill(source, self.chunk_size)
            piece = next(pieces, b"")
            while True:
                following = next(pieces, None)
                if following is None:
                    break
                offset = self._append(http, session, piece, offset)
                piece = following
            commit = {"path": path, "mode": "overwrite", "autorename": False, "mute": True}
            for _ in range(RESUME_TRIES):
                try:
                    r = self._content_call(http, "upload_session/finish",
                                           {"cursor": {"session_id": session, "offset": offset}, "commit": commit},
                                           piece)
                except IntegrationError:
                    continue
                if r.status_code == 200:
                    return offset + len(piece)
                correct = _correct_offset(r)
                if correct is None or not offset <= correct <= offset + len(piece):
                    raise self._fail("upload_session/finish", r)
                piece, offset = piece[correct - offset:], correct
            raise IntegrationError("Интеграция dropbox: загрузка прерывается снова и снова; попробуйте позже")

    def _append(self, http: HttpClient, session: str, piece: bytes, offset: int) -> int:
        start, end = offset, offset + len(piece)
        for _ in range(RESUME_TRIES):
            try:
                r = self._content_call(http, "upload_session/append_v2",
                                       {"cursor": {"session_id": session, "offset": start}, "close": False},
                                       piece[start - offset:])
            except IntegrationError:
                continue    # sent again at the same offset; the session says if it already has some of it
            if r.status_code == 200:
                return end
            correct = _correct_offset(r)
            if correct is None or not offset <= correct <= end:
                raise self._fail("upload_session/append_v2", r)
            if correct == end:
                return end
            start = correct
        raise IntegrationError("Интеграция dropbox: загрузка прерывается снова и снова; попробуйте позже")

    def _fail(self, operation: str, r) -> IntegrationError:
        try:
            summary = r.json().get("error_summary")
        except ValueError:
            summary = None
        return IntegrationError(f"Интеграция dropbox, {operation}: сервер ответил {r.status_code}"
                                f"{' (' + str(summary) + ')' if summary else ''}")

    def download(self, name: str, sink: BinaryIO) -> int:
        counted = CountingSink(sink)
        with self._client(content=True) as http:
            r = http.post("/2/files/download", operation="download", raise_for_status=False, retry_safe=True,
                          headers={"Dropbox-API-Arg": self._arg({"path": self._path(name)})}, sink=counted)
        if r.status_code == 409:
            raise IntegrationError(f"Интеграция dropbox: копии {name} нет")
        if r.status_code != 200:
            raise self._fail("download", r)
        return counted.size

    def list(self, prefix: str = "") -> list[tuple[str, int]]:
        folder = self.setting("folder").rstrip("/")
        out = []
        with self._client() as http:
            r = http.post("/2/files/list_folder", json={"path": folder, "recursive": True}, operation="list",
                          retry_safe=True, raise_for_status=False)
            while True:
                if r.status_code == 409 and "not_found" in r.text:
                    return []
                if r.status_code != 200:
                    raise self._fail("list_folder", r)
                body = r.json()
                for e in body.get("entries", []):
                    if e.get(".tag") != "file":
                        continue
                    rel = e["path_display"][len(folder) + 1:]
                    if rel.startswith(prefix):
                        out.append((rel, int(e.get("size") or 0)))
                if not body.get("has_more"):
                    break
                r = http.post("/2/files/list_folder/continue", json={"cursor": body["cursor"]}, operation="list",
                              retry_safe=True, raise_for_status=False)
        return sorted(out)

    def delete(self, name: str) -> None:
        with self._client() as http:
            r = http.post("/2/files/delete_v2", json={"path": self._path(name)}, operation="delete",
                          retry_safe=True, raise_for_status=False)
        if r.status_code == 409 and "not_found" in r.text:
            return
        if r.status_code != 200:
            raise self._fail("delete_v2", r)

    def check(self) -> str:
        self.list("\0")
        return f"папка {self.setting('folder')} в Dropbox доступна"


def _correct_offset(r) -> int | None:
    """The offset a session really has, from an `incorrect_offset` error."""
    if r.status_code != 409:
        return None
    try:
        error = r.json().get("error", {})
        lookup = error.get("lookup_failed", error) if error.get(".tag") == "lookup_failed" else error
        if lookup.get(".tag") == "incorrect_offset":
            return int(lookup["correct_offset"])
    except (ValueError, AttributeError, KeyError, TypeError):
        return None
    return None
