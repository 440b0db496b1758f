"""A local stand-in for an operator with the Kontur.Extern API, on 127.0.0.1, written from the operator's
published documentation (developer.kontur.ru, «Документация API Контур.Экстерна»):

- OpenID Connect token endpoint (client id and api key), tokens that the test can revoke (the client must
  then fetch a new one);
- drafts: POST /v1/{accountId}/drafts (payer, sender with certificate, recipient ifns-code), content upload
  POST /v1/{accountId}/contents (application/octet-stream), the draft's document and its signature,
  POST …/check (errors-by-document, common-errors), POST …/prepare, POST …/send returning the docflow;
- docflows: GET /v1/{accountId}/docflows/{docflowId} with status urn:docflow-common-status:* and the
  documents the tax office sent (document types urn:document:fns534-report-*), each with its send-date, and
  GET …/documents/{documentId}/content/decrypted.

The test moves a docflow on with advance(): what the tax office would send, in the documented order.
"""

from __future__ import annotations

import json
import uuid
from base64 import b64decode
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

from tests.test_http import Server

CLIENT_ID, API_KEY, ACCOUNT = "coop-app", "api-key-секрет-1234", "8d3f6c1e-0000-4000-8000-00000000a001"
STATUS_AFTER = {"urn:document:fns534-report-receipt": "urn:docflow-common-status:delivered",
                "urn:document:fns534-report-acceptance-result-positive": "urn:docflow-common-status:response-arrived",
                "urn:document:fns534-report-acceptance-result-negative": "urn:docflow-common-status:finished",
                "urn:document:error": "urn:docflow-common-status:finished",
                "urn:document:fns534-report-processing-result-ok": "urn:docflow-common-status:finished"}


def now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class KonturServer(Server):
    """The operator on the HTTP server of the HTTP client's tests (which records every request)."""

    def __init__(self):
        self.tokens: set[str] = set()
        self.contents: dict[str, bytes] = {}
        self.drafts: dict[str, dict] = {}
        self.docflows: dict[str, dict] = {}
        super().__init__()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    # -- the tax office's side ---------------------------------------------------------------------
    def advance(self, docflow_id: str, doc_type: str, content: bytes, filename: str) -> None:
        flow = self.docflows[docflow_id]
        doc_id = str(uuid.uuid4())
        self.contents[doc_id] = content
        flow["documents"].append({"id": doc_id, "description": {"type": doc_type, "filename": filename,
                                                                "content-type": "application/xml"},
                                  "send-date": now()})
        flow["status"] = STATUS_AFTER[doc_type]
        flow["last-change-date"] = now()

    # -- the API -------------------------------------------------------------------------------------
    def respond(self, method: str, path: str, headers: dict, body: bytes):
        path = urlsplit(path).path
        if path == "/connect/token":
            auth = b64decode(headers.get("Authorization", "").removeprefix("Basic ") or b"").decode()
            form = parse_qs(body.decode())
            if auth.split(":")[0] != CLIENT_ID or form.get("grant_type") != ["client_credentials"]:
                return self._json(401, {"error": "invalid_client"})
            self.tokens_issued += 1
            token = f"at-{uuid.uuid4().hex}"
            self.tokens.add(token)
            return self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})
        if headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return self._json(401, {"message": "Unauthorized"})
        parts = path.strip("/").split("/")
        if len(parts) < 3 or parts[0] != "v1" or parts[1] != ACCOUNT:
            return self._json(404, {"message": "Not found"})
        rest = parts[2:]
        if method == "POST" and rest == ["drafts"]:
            meta = json.loads(body)
            if not meta.get("recipient", {}).get("ifns-code") or not meta.get("payer", {}).get("inn"):
                return self._json(400, {"message": "recipient and payer are required"})
            draft_id = str(uuid.uuid4())
            self.drafts[draft_id] = {"id": draft_id, "meta": meta, "documents": {}, "status": "new"}
            return self._json(201, {"id": draft_id, "meta": meta, "status": "new"})
        if method == "GET" and rest == ["drafts"]:
            return self._json(200, {"drafts": list(self.drafts)[:1]})
        if method == "POST" and rest == ["contents"]:
            content_id = str(uuid.uuid4())
            self.contents[content_id] = body
            return self._json(200, {"id": content_id})
        if rest[0] == "drafts" and len(rest) >= 2:
            draft = self.drafts.get(rest[1])
            if draft is None:
                return self._json(404, {"message": "draft not found"})
            if method == "PUT" and len(rest) == 4 and rest[2] == "documents":
                doc = json.loads(body)
                draft["documents"][rest[3]] = {"description": doc["description"], "content-id": doc["content-id"]}
                return self._json(200, {"id": rest[3], **doc})
            if method == "PUT" and len(rest) == 5 and rest[4] == "signature":
                draft["documents"][rest[3]]["signature"] = body
                return self._json(200, {"id": rest[3]})
            if method == "POST" and rest[2:] == ["check"]:
                errors = {d: [{"code": "signatureMissing", "description": "нет подписи документа"}]
                          for d, doc in draft["documents"].items() if not doc.get("signature")}
                draft["status"] = "checked"
                return self._json(200, {"data": {"errors-by-document": errors, "common-errors": []}})
            if method == "POST" and rest[2:] == ["prepare"]:
                draft["status"] = "prepared"
                return self._json(200, {"status": "ok"})
            if method == "POST" and rest[2:] == ["send"]:
                if draft["status"] != "prepared":
                    return self._json(409, {"message": "draft is not prepared"})
                flow_id = str(uuid.uuid4())
                docs = [{"id": d, "description": doc["description"], "send-date": now()}
                        for d, doc in draft["documents"].items()]
                self.docflows[flow_id] = {"id": flow_id, "type": "urn:docflow:fns534-report",
                                          "status": "urn:docflow-common-status:sent", "send-date": now(),
                                          "last-change-date": now(), "documents": docs}
                draft["status"] = "sent"
                return self._json(200, self.docflows[flow_id])
        if method == "GET" and rest[0] == "docflows" and len(rest) >= 2:
            flow = self.docflows.get(rest[1])
            if flow is None:
                return self._json(404, {"message": "docflow not found"})
            if len(rest) == 2:
                return self._json(200, flow)
            if len(rest) == 6 and rest[2] == "documents" and rest[4:] == ["content", "decrypted"]:
                if rest[3] not in self.contents:
                    return self._json(404, {"message": "content not found"})
                return 200, {"Content-Type": "application/octet-stream"}, self.contents[rest[3]]
        return self._json(404, {"message": "Not found"})

    @staticmethod
    def _json(status: int, body) -> tuple[int, dict, bytes]:
        return status, {"Content-Type": "application/json"}, json.dumps(body, ensure_ascii=False).encode()
