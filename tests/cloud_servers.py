"""Local stand-ins for the Yandex Disk REST API, Google Drive API v3 (resumable uploads, OAuth 2.0 token
endpoint) and Dropbox API v2 (upload sessions, OAuth 2.0 token endpoint), on 127.0.0.1, written from the
providers' published documentation (request and answer shapes, status codes, error bodies), not from our
client. `cut_after = N` drops the connection once N more bytes of request body have arrived: the cut
mid-upload."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN = "coop-client", "Клиентский-секрет-9".encode().hex(), "refresh-Ж-1"
YANDEX_TOKEN = "y0_AgAAAAcoopTOKEN"
DRIVE_CHUNK = 256 * 1024


def send(handler: BaseHTTPRequestHandler, status: int, headers: dict, payload: bytes) -> None:
    """Write one complete response (status, headers, Content-Length, body)."""
    handler.send_response(status)
    for k, v in headers.items():
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


class _Cut(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _body(self) -> bytes:
        srv = self.server.fake
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self._read(size, srv)
                self.rfile.readline()
            return bytes(data)
        return self._read(int(self.headers.get("Content-Length") or 0), srv)

    def _read(self, n: int, srv) -> bytes:
        if srv.cut_after is not None and n > srv.cut_after:
            self.rfile.read(srv.cut_after)
            srv.cut_after = None
            srv.cuts += 1
            raise _Cut
        if srv.cut_after is not None:
            srv.cut_after -= n
        return self.rfile.read(n)

    def _handle(self):
        srv = self.server.fake
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            body = self._body()
        except _Cut:
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        with srv.lock:
            status, headers, payload = srv.route(self.command, url.path, query, dict(self.headers), body)
        if isinstance(payload, (dict, list)) or payload is None and status not in (204, 302, 308):
            payload = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            headers = {"Content-Type": "application/json; charset=utf-8", **headers}
        send(self, status, headers, payload or b"")

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _handle


class FakeServer:
    def __init__(self):
        self.lock = threading.Lock()
        self.cut_after: int | None = None
        self.cuts = 0
        self.calls: list[tuple[str, str]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.fake = self
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def route(self, method, path, query, headers, body):
        self.calls.append((method, path))
        return self.dispatch(method, path, query, headers, body)


class _OAuth:
    """The token endpoint (RFC 6749 refresh_token grant, client_secret_basic) and bearer checks."""

    def init_oauth(self):
        self.access_tokens: set[str] = set()
        self.refreshes = 0

    def token(self, headers, body):
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        basic = headers.get("Authorization", "")
        creds = base64.b64decode(basic[6:]).decode() if basic.startswith("Basic ") else ""
        if creds != f"{CLIENT_ID}:{CLIENT_SECRET}":
            return 401, {}, {"error": "invalid_client"}
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != REFRESH_TOKEN:
            return 400, {}, {"error": "invalid_grant", "error_description": "Bad Request"}
        token = "at-" + uuid.uuid4().hex
        self.access_tokens = {token}          # an earlier access token stops working
        self.refreshes += 1
        return 200, {}, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def authorised(self, headers) -> bool:
        auth = headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.access_tokens


class YandexDisk(FakeServer):
    """https://yandex.ru/dev/disk-api/doc/ru/ : resources, upload, download, move, delete, operations."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.dirs = {"app:", "disk:"}
        self.uploads: dict[str, str] = {}
        self.operations: dict[str, int] = {}
        self.damage_uploads = False     # tests: store each upload with its last byte changed (a faulty store)
        super().__init__()

    def _error(self, status, name, text):
        return status, {}, {"error": name, "description": text, "message": text}

    def dispatch(self, method, path, q, headers, body):
        if path.startswith("/upload-target/"):
            target = self.uploads.pop(path.rsplit("/", 1)[1], None)
            if target is None:
                return 404, {}, b""
            self.files[target] = body[:-1] + bytes([body[-1] ^ 1]) if self.damage_uploads and body else body
            return 201, {}, b""
        if path.startswith("/download-target/"):
            return 302, {"Location": f"{self.url}/storage/{path.rsplit('/', 1)[1]}"}, b""
        if path.startswith("/storage/"):
            name = bytes.fromhex(path.rsplit("/", 1)[1]).decode()
            return 200, {"Content-Type": "application/octet-stream"}, self.files[name]
        if headers.get("Authorization") != f"OAuth {YANDEX_TOKEN}":
            return self._error(401, "UnauthorizedError", "Не авторизован.")
        p = q.get("path", "").rstrip("/")
        parent = p.rsplit("/", 1)[0] if "/" in p else p
        if path == "/v1/disk/resources/upload" and method == "GET":
            if parent not in self.dirs:
                return self._error(409, "DiskPathDoesntExistsError", "Указанного пути не существует.")
            if p in self.files and q.get("overwrite") != "true":
                return self._error(409, "DiskResourceAlreadyExistsError", "Ресурс уже существует")
            op = uuid.uuid4().hex
            self.uploads[op] = p
            return 200, {}, {"operation_id": op, "href": f"{self.url}/upload-target/{op}", "method": "PUT",
                             "templated": False}
        if path == "/v1/disk/resources/download" and method == "GET":
            if p not in self.files:
                return self._error(404, "DiskNotFoundError", "Не удалось найти запрошенный ресурс.")
            return 200, {}, {"href": f"{self.url}/download-target/{p.encode().hex()}", "method": "GET",
                             "templated": False}
        if path == "/v1/disk/resources/move" and method == "POST":
            src, dst = q.get("from", ""), p
            if src not in self.files:
                return self._error(404, "DiskNotFoundError", "Не удалось найти запрошенный ресурс.")
            if dst in self.files and q.get("overwrite") != "true":
                return self._error(409, "DiskResourceAlreadyExistsError", "Ресурс уже существует")
            self.files[dst] = self.files.pop(src)
            op = uuid.uuid4().hex
            self.operations[op] = 1         # answers "in-progress" once, then "success"
            return 202, {}, {"href": f"{self.url}/v1/disk/operations/{op}", "method": "GET", "templated": False}
        if path.startswith("/v1/disk/operations/"):
            op = path.rsplit("/", 1)[1]
            if op not in self.operations:
                return self._error(404, "DiskNotFoundError", "Операция не найдена")
            if self.operations[op] > 0:
                self.operations[op] -= 1
                return 200, {}, {"status": "in-progress"}
            return 200, {}, {"status": "success"}
        if path == "/v1/disk/resources":
            if method == "PUT":
                if p in self.dirs:
                    return self._error(409, "DiskPathPointsToExistentDirectoryError", "По указанному пути уже есть папка")
                if parent not in self.dirs:
                    return self._error(409, "DiskPathDoesntExistsError", "Указанного пути не существует.")
                self.dirs.add(p)
                return 201, {}, {"href": f"{self.url}/v1/disk/resources?path={p}", "method": "GET", "templated": False}
            if method == "DELETE":
                if p in self.files:
                    del self.files[p]
                    return 204, {}, b""
                return self._error(404, "DiskNotFoundError", "Не удалось найти запрошенный ресурс.")
            if method == "GET":
                if p in self.files:     # a file's metadata: its size and checksums
                    data = self.files[p]
                    return 200, {}, {"name": p.rsplit("/", 1)[1], "path": p, "type": "file", "size": len(data),
                                     "md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}
                if p not in self.dirs:
                    return self._error(404, "DiskNotFoundError", "Не удалось найти запрошенный ресурс.")
                children = sorted({k for k in list(self.files) + list(self.dirs)
                                   if k.rsplit("/", 1)[0] == p and k != p})
                offset, limit = int(q.get("offset", 0)), int(q.get("limit", 20))
                items = [{"name": c.rsplit("/", 1)[1], "path": c, "type": "dir" if c in self.dirs else "file",
                          **({} if c in self.dirs else {"size": len(self.files[c])})}
                         for c in children[offset:offset + limit]]
                return 200, {}, {"name": p.rsplit("/", 1)[-1], "path": p, "type": "dir",
                                 "_embedded": {"items": items, "limit": limit, "offset": offset,
                                               "total": len(children), "path": p}}
        return 404, {}, {"error": "NotFound"}


class GoogleDrive(FakeServer, _OAuth):
    """https://developers.google.com/drive/api/guides/manage-uploads#resumable and files.list/get/delete."""

    def __init__(self, folder_id="folder-1"):
        self.folder_id = folder_id
        self.files: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.init_oauth()
        super().__init__()

    def dispatch(self, method, path, q, headers, body):
        if path == "/token" and method == "POST":
            return self.token(headers, body)
        if not self.authorised(headers):
            return 401, {}, {"error": {"code": 401, "message": "Request had invalid authentication credentials.",
                                       "status": "UNAUTHENTICATED"}}
        if path == "/upload/drive/v3/files" and method == "POST" and q.get("uploadType") == "resumable":
            meta = json.loads(body or b"{}")
            sid = uuid.uuid4().hex
            self.sessions[sid] = {"meta": meta, "data": bytearray()}
            return 200, {"Location": f"{self.url}/upload/drive/v3/files?uploadType=resumable&upload_id={sid}"}, b""
        if path == "/upload/drive/v3/files" and method == "PUT" and q.get("upload_id") in self.sessions:
            session = self.sessions[q["upload_id"]]
            m = re.fullmatch(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)", headers.get("Content-Range", ""))
            if not m:
                return 400, {}, {"error": {"code": 400, "message": "Invalid Content-Range"}}
            have = len(session["data"])
            if m.group(1) is not None:
                start, end = int(m.group(1)), int(m.group(2))
                if end - start + 1 != len(body) or start > have:
                    return 400, {}, {"error": {"code": 400, "message": "Invalid request"}}
                total = m.group(3)
                if total == "*" and len(body) % DRIVE_CHUNK:
                    return 400, {}, {"error": {"code": 400, "message": "chunk size must be a multiple of 256 KiB"}}
                session["data"] += body[have - start:]
            total = m.group(3)
            if total != "*" and len(session["data"]) == int(total):
                fid = uuid.uuid4().hex[:16]
                self.files[fid] = {"id": fid, "name": session["meta"].get("name"),
                                   "parents": session["meta"].get("parents", []), "data": bytes(session["data"])}
                del self.sessions[q["upload_id"]]
                return 200, {}, {"kind": "drive#file", "id": fid, "name": self.files[fid]["name"],
                                 "mimeType": "application/octet-stream"}
            have = len(session["data"])
            return 308, ({"Range": f"bytes=0-{have - 1}"} if have else {}), b""
        if path == "/drive/v3/files" and method == "GET":
            m = re.fullmatch(r"'([^']+)' in parents and trashed = false(?: and name = '((?:[^'\\]|\\.)*)')?", q["q"])
            if not m:
                return 400, {}, {"error": {"code": 400, "message": "Invalid Value"}}
            name = re.sub(r"\\(.)", r"\1", m.group(2)) if m.group(2) is not None else None
            found = [f for f in self.files.values() if m.group(1) in f["parents"] and (name is None or f["name"] == name)]
            start = int(q.get("pageToken") or 0)
            size = min(int(q.get("pageSize", 100)), 2)   # small pages, so that paging is exercised
            page = found[start:start + size]
            out = {"files": [{"id": f["id"], "name": f["name"], "size": str(len(f["data"]))} for f in page]}
            if start + size < len(found):
                out["nextPageToken"] = str(start + size)
            return 200, {}, out
        m = re.fullmatch(r"/drive/v3/files/([^/]+)", path)
        if m and m.group(1) in self.files:
            if method == "GET" and q.get("alt") == "media":
                return 200, {"Content-Type": "application/octet-stream"}, self.files[m.group(1)]["data"]
            if method == "GET":     # files.get: the metadata, only the fields asked for (when asked)
                f = self.files[m.group(1)]
                meta = {"kind": "drive#file", "id": f["id"], "name": f["name"], "size": str(len(f["data"])),
                        "md5Checksum": hashlib.md5(f["data"]).hexdigest(),
                        "sha1Checksum": hashlib.sha1(f["data"]).hexdigest(),
                        "sha256Checksum": hashlib.sha256(f["data"]).hexdigest()}
                wanted = [k.strip() for k in q.get("fields", "").split(",") if k.strip()]
                return 200, {}, {k: v for k, v in meta.items() if not wanted or k in wanted}
            if method == "DELETE":
                del self.files[m.group(1)]
                return 204, {}, b""
        return 404, {}, {"error": {"code": 404, "message": "File not found."}}


class Dropbox(FakeServer, _OAuth):
    """https://www.dropbox.com/developers/documentation/http/documentation : upload sessions, list_folder,
    download, delete_v2, the oauth2/token endpoint. Both the API and the content host are served here."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.sessions: dict[str, bytearray] = {}
        self.init_oauth()
        super().__init__()

    @staticmethod
    def _conflict(summary: str, error: dict):
        return 409, {}, {"error_summary": summary, "error": error}

    def dispatch(self, method, path, q, headers, body):
        if path == "/oauth2/token" and method == "POST":
            return self.token(headers, body)
        if not self.authorised(headers):
            return 401, {}, {"error_summary": "expired_access_token/", "error": {".tag": "expired_access_token"}}
        arg = json.loads(headers.get("Dropbox-API-Arg") or "null")
        if path == "/2/files/upload_session/start":
            sid = uuid.uuid4().hex
            self.sessions[sid] = bytearray(body)
            return 200, {}, {"session_id": sid}
        if path in ("/2/files/upload_session/append_v2", "/2/files/upload_session/finish"):
            cursor = arg["cursor"]
            data = self.sessions.get(cursor["session_id"])
            if data is None:
                return self._conflict("lookup_failed/not_found/", {".tag": "lookup_failed",
                                                                   "lookup_failed": {".tag": "not_found"}})
            if cursor["offset"] != len(data):
                error = {".tag": "incorrect_offset", "correct_offset": len(data)}
                return self._conflict("lookup_failed/incorrect_offset/",
                                      {".tag": "lookup_failed", "lookup_failed": error})
            data += body
            if path.endswith("append_v2"):
                return 200, {}, None
            commit = arg["commit"]
            self.files[commit["path"].lower()] = bytes(data)
            self.display = getattr(self, "display", {})
            self.display[commit["path"].lower()] = commit["path"]
            del self.sessions[cursor["session_id"]]
            return 200, {}, self._meta(commit["path"].lower())
        if path == "/2/files/download":
            key = arg["path"].lower()
            if key not in self.files:
                return self._conflict("path/not_found/", {".tag": "path", "path": {".tag": "not_found"}})
            return 200, {"Dropbox-API-Result": json.dumps(self._meta(key), ensure_ascii=True),
                         "Content-Type": "application/octet-stream"}, self.files[key]
        payload = json.loads(body or b"null")
        if path == "/2/files/list_folder":
            folder = payload["path"].lower().rstrip("/")
            keys = sorted(k for k in self.files if k.startswith(folder + "/"))
            if not keys:
                return self._conflict("path/not_found/", {".tag": "path", "path": {".tag": "not_found"}})
            return 200, {}, self._page(keys, 0)
        if path == "/2/files/list_folder/continue":
            keys, start = json.loads(bytes.fromhex(payload["cursor"]).decode())
            return 200, {}, self._page(keys, start)
        if path == "/2/files/get_metadata":
            key = payload["path"].lower()
            if key not in self.files:
                return self._conflict("path/not_found/", {".tag": "path", "path": {".tag": "not_found"}})
            return 200, {}, self._meta(key)
        if path == "/2/files/delete_v2":
            key = payload["path"].lower()
            if key not in self.files:
                return self._conflict("path_lookup/not_found/", {".tag": "path_lookup",
                                                                 "path_lookup": {".tag": "not_found"}})
            meta = self._meta(key)
            del self.files[key]
            return 200, {}, {"metadata": meta}
        return 404, {}, b"Unknown API function"

    def _meta(self, key: str) -> dict:
        display = getattr(self, "display", {}).get(key, key)
        data = self.files[key]
        # content_hash (developers/reference/content-hash): SHA-256 over the SHA-256 of each 4 MiB block
        blocks = b"".join(hashlib.sha256(data[i:i + (4 << 20)]).digest() for i in range(0, len(data), 4 << 20))
        return {".tag": "file", "name": display.rsplit("/", 1)[1], "path_lower": key, "path_display": display,
                "id": "id:" + key.encode().hex()[:16], "size": len(data), "content_hash": hashlib.sha256(blocks).hexdigest()}

    def _page(self, keys: list[str], start: int) -> dict:
        page = keys[start:start + 2]     # small pages, so that list_folder/continue is exercised
        more = start + 2 < len(keys)
        return {"entries": [self._meta(k) for k in page], "has_more": more,
                "cursor": json.dumps([keys, start + 2]).encode().hex()}
