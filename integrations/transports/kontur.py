"""Submission through an operator's REST API in the style of Kontur.Extern (Контур.Экстерн API).

The steps of the published scenario «Создание и отправка черновика»: POST /v1/{accountId}/drafts (payer,
sender with its certificate, recipient tax office), the report and its signature uploaded into the draft's
document, POST …/check (the operator's format checks), POST …/prepare, POST …/send — which returns the
document flow (docflow). Then GET /v1/{accountId}/docflows/{docflowId} is polled; its documents tell how far
the report has got: urn:document:fns534-report-receipt (извещение о получении) → delivered;
…-acceptance-result-positive (квитанция о приёме) → accepted; …-acceptance-result-negative (уведомление об
отказе) or urn:document:error → rejected, with the reasons read from it; …-processing-result-ok (извещение о
вводе) → processed. Authentication is OpenID Connect (client id and api key); tokens are refreshed by
integrations/http.py.
"""

from __future__ import annotations


import uuid
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from ..base import Field, IntegrationError, ReportTransport, Submission
from ..http import HttpClient, OAuth2

DOC = "urn:document:fns534-report"
# The operator's documents in the order they arrive, and the status each one means.
STAGES = [("urn:document:fns534-report-receipt", "delivered", "извещение о получении"),
          ("urn:document:fns534-report-acceptance-result-positive", "accepted", "квитанция о приёме"),
          ("urn:document:fns534-report-acceptance-result-negative", "rejected", "уведомление об отказе"),
          ("urn:document:error", "rejected", "сообщение об ошибке"),
          ("urn:document:fns534-report-processing-result-ok", "processed", "извещение о вводе")]
RECEIPT_TYPES = {t for t, _, _ in STAGES}


@dataclass
class FlowState(Submission):
    history: list[tuple[str, str, datetime | None]] = field(default_factory=list)


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


def reasons(content: bytes) -> str:
    """The texts of a rejection (уведомление об отказе / сообщение об ошибке), one line."""
    try:
        root = etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return content.decode("utf-8", "replace")[:300]
    texts = [" ".join(t.split()) for t in root.itertext() if t.strip()]
    return "; ".join(texts)[:500]


class KonturTransport(ReportTransport):
    name = "kontur"
    title = "Оператор ЭДО (API в стиле Контур.Экстерн)"
    fields = (
        Field("base_url", "Адрес API", "url", default="https://extern-api.kontur.ru"),
        Field("token_url", "Адрес выдачи токенов (OpenID Connect)", "url",
              default="https://identity.kontur.ru/connect/token"),
        Field("client_id", "client_id", required=True),
        Field("api_key", "api-key", secret=True, required=True),
        Field("account_id", "Идентификатор учётной записи", required=True),
        Field("inn", "ИНН отправителя", required=True),
        Field("kpp", "КПП отправителя"),
        Field("ifns_code", "Код налогового органа", required=True),
        Field("certificate", "Сертификат подписанта (PEM)", "pem"),
    )

    def client(self) -> HttpClient:
        oauth = OAuth2(token_url=self.setting("token_url"), client_id=self.setting("client_id"),
                       client_secret=self.setting("api_key"), scope="extern.api")
        return HttpClient(self, base_url=self.setting("base_url"), oauth=oauth)

    @property
    def _account(self) -> str:
        return f"/v1/{self.setting('account_id')}"

    def _json(self, response, operation: str) -> dict:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise IntegrationError(f"Интеграция kontur, {operation}: ответ оператора не JSON-объект")
        return body

    def submit(self, name: str, data: bytes, signature: bytes | None, signature_name: str | None = None) -> Submission:
        if signature is None:
            raise IntegrationError("Интеграция kontur: отчёт без подписи оператор не примет — подпишите его "
                                   "(coop report sign FILE --signer …)")
        cert = self.setting("certificate") or ""
        cert_b64 = "".join(line for line in cert.splitlines() if line and not line.startswith("-----"))
        with self.client() as http:
            draft = self._json(http.post(f"{self._account}/drafts", operation="создание черновика", json={
                "payer": {"inn": self.setting("inn"), "organization": {"kpp": self.setting("kpp")}},
                "sender": {"inn": self.setting("inn"), "kpp": self.setting("kpp"), "certificate": {"content": cert_b64}},
                "recipient": {"ifns-code": self.setting("ifns_code")}},
                idempotency_key=str(uuid.uuid4())), "создание черновика")
            draft_id = draft.get("id")
            if not draft_id:
                raise IntegrationError("Интеграция kontur: оператор не вернул номер черновика")
            content = self._json(http.post(f"{self._account}/contents", operation="загрузка отчёта", content=data,
                                           headers={"Content-Type": "application/octet-stream"},
                                           idempotency_key=str(uuid.uuid4())), "загрузка отчёта")
            document_id = str(uuid.uuid4())
            http.put(f"{self._account}/drafts/{draft_id}/documents/{document_id}", operation="документ черновика",
                     json={"description": {"type": DOC, "filename": name, "content-type": "application/xml"},
                           "content-id": content.get("id")})
            http.put(f"{self._account}/drafts/{draft_id}/documents/{document_id}/signature", operation="подпись",
                     content=signature, headers={"Content-Type": "application/octet-stream"})
            check = self._json(http.post(f"{self._account}/drafts/{draft_id}/check", operation="проверка",
                                         retry_safe=True), "проверка")
            errors = (check.get("data") or {}).get("common-errors") or []
            for doc_errors in ((check.get("data") or {}).get("errors-by-document") or {}).values():
                errors += doc_errors
            if errors:
                texts = "; ".join(str(e.get("description") or e.get("code") or e) if isinstance(e, dict) else str(e)
                                  for e in errors)
                raise IntegrationError(f"Интеграция kontur: оператор нашёл ошибки в отчёте: {texts[:500]}")
            http.post(f"{self._account}/drafts/{draft_id}/prepare", operation="подготовка", retry_safe=True)
            flow = self._json(http.post(f"{self._account}/drafts/{draft_id}/send", operation="отправка",
                                        idempotency_key=draft_id), "отправка")
        if not flow.get("id"):
            raise IntegrationError("Интеграция kontur: оператор не вернул номер документооборота")
        return FlowState(flow["id"], "sent", "отправлен оператору",
                         history=[("sent", "отправлен оператору", _when(flow.get("send-date")))])

    def _flow(self, http: HttpClient, submission_id: str) -> dict:
        return self._json(http.get(f"{self._account}/docflows/{submission_id}", operation="статус"), "статус")

    def poll(self, submission_id: str) -> Submission:
        with self.client() as http:
            flow = self._flow(http, submission_id)
            history = [("sent", "отправлен оператору", _when(flow.get("send-date")))]
            status, detail = "sent", "отправлен оператору"
            for doc in flow.get("documents") or []:
                kind = (doc.get("description") or {}).get("type")
                stage = next((s for s in STAGES if s[0] == kind), None)
                if stage is None:
                    continue
                status, detail = stage[1], stage[2]
                if status == "rejected":
                    content = http.get(f"{self._account}/docflows/{submission_id}/documents/{doc['id']}"
                                       f"/content/decrypted", operation="уведомление").content
                    detail = f"{stage[2]}: {reasons(content)}"
                history.append((status, detail, _when(doc.get("send-date"))))
        return FlowState(submission_id, status, detail, history=history)

    def receipts(self, submission_id: str) -> list[tuple[str, bytes]]:
        out = []
        with self.client() as http:
            for doc in self._flow(http, submission_id).get("documents") or []:
                description = doc.get("description") or {}
                if description.get("type") in RECEIPT_TYPES:
                    content = http.get(f"{self._account}/docflows/{submission_id}/documents/{doc['id']}"
                                       f"/content/decrypted", operation="квитанция").content
                    out.append((description.get("filename") or f"{doc['id']}.xml", content))
        return out

    def check(self) -> str:
        with self.client() as http:
            http.get(f"{self._account}/drafts", operation="проверка", params={"take": 1}, raise_for_status=False)
        return "оператор отвечает, токен получен"


