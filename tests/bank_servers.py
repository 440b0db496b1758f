"""Local bank API servers on 127.0.0.1, each written from the bank's published API description, not from our client.

TochkaServer — developers.tochka.com, «Open Banking API», v1.0:

- `POST /connect/token`: OAuth 2.0 token endpoint (grant_type authorization_code | refresh_token, the client's
  id and secret as HTTP Basic or form fields) → access_token, token_type, expires_in, refresh_token;
- every API call carries `Authorization: Bearer <JWT or access token>`; otherwise 401 with the bank's error body
  {"code", "id", "message", "Errors": [{"errorCode", "message", "url"}]};
- `POST /uapi/open-banking/v1.0/statements` with {"Data": {"Statement": {"accountId", "startDateTime",
  "endDateTime"}}} → {"Data": {"Statement": {…, "statementId", "status": "Created"}}, "Links", "Meta"};
- `GET /uapi/open-banking/v1.0/accounts/{accountId}/statements/{statementId}` → {"Data": {"Statement": [{…,
  "status": "Processing" | "Ready", "Transaction": […]}]}, "Links": {"self", "next"?}, "Meta": {"totalPages"}};
  the transactions of the requested days (documentProcessDate), `page` selects a page when `page_size` is set.

Test knobs: `transactions`, `processing_polls` (answers Processing that many times), `page_size`, `failures`
(a queue of (path fragment, status, headers, body) answered once each), `revoke()`.

SberServer — developers.sber.ru, SberBusiness API: СберБизнес ID token endpoint `POST /ic/sso/api/v2/oauth/token`
(authorization_code, refresh_token; access 3600 s, refresh_token rotated), `GET /fintech/api/v2/statement/transactions`
(accountNumber, statementDate, page; 100 a page; {"transactions": [...], "_links": [{"rel": "next", "href"}]}),
TLS with a client certificate required.

SoapBankServer — a WSDL 1.1 document/literal SOAP 1.1 service (W3C WSDL 1.1 and SOAP 1.1 notes): `GET /service?wsdl`
gives the description, `POST /service` takes GetStatementRequest {accountNumber, dateFrom, dateTo} and answers
GetStatementResponse {fileName, content (base64Binary)}, or a soap:Fault.

TBankServer — developer.tbank.ru, T-Business Open API, «Получить выписку» `GET /api/v1/statement`: query
accountNumber, from, till (date-time), limit, cursor; `Authorization: Bearer`, `X-Request-Id`; answer {"balances",
"operations": [...], "nextCursor"}; more than 20 requests in a second → 429; a bad token → 401.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import uuid
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

API = "/uapi/open-banking/v1.0"


class FakeServer:
    """A threading HTTP server on 127.0.0.1 answering through `answer()`; `failures` are answered first, once each."""

    def __init__(self, tls=None):
        self.failures: list[tuple[str, int, dict, bytes]] = []
        self.requests: list[tuple[str, str]] = []
        self.headers_seen: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append((self.command, self.path))
                outer.headers_seen.append(dict(self.headers))
                status, headers, payload = outer.failure(self.path) or outer.answer(
                    self.command, self.path, dict(self.headers), body)
                self.send_response(status)
                headers.setdefault("Content-Type", "application/json; charset=utf-8")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def failure(self, target: str) -> tuple[int, dict, bytes] | None:
        for i, (fragment, status, extra, payload) in enumerate(self.failures):
            if fragment in target:
                del self.failures[i]
                return status, dict(extra), payload
        return None

    @staticmethod
    def _json(status: int, body, headers: dict | None = None) -> tuple[int, dict, bytes]:
        return status, dict(headers or {}), json.dumps(body, ensure_ascii=False).encode("utf-8")

    def answer(self, method: str, target: str, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
        raise NotImplementedError


class TochkaServer(FakeServer):
    def __init__(self, jwt: str | None = None, client_id: str = "coop-client", client_secret: str = "client-секрет",
                 tls=None):
        self.jwt = jwt
        self.client_id, self.client_secret = client_id, client_secret
        self.transactions: list[dict] = []
        self.processing_polls = 0
        self.page_size: int | None = None
        self.expires_in = 3600
        self.access: set[str] = set()
        self.refresh: set[str] = set()
        self.codes: set[str] = set()
        self.statements: dict[str, dict] = {}
        super().__init__(tls)

    # -- knobs -------------------------------------------------------------------------------------
    def issue_code(self) -> str:
        code = secrets.token_urlsafe(8)
        self.codes.add(code)
        return code

    def revoke(self) -> None:
        """The customer withdrew the consent: every access and refresh token stops working."""
        self.access.clear()
        self.refresh.clear()
        self.jwt = None

    def expire_access(self) -> None:
        self.access.clear()

    def api_calls(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[1].startswith(API)]

    # -- the API -----------------------------------------------------------------------------------

    def _error(self, status: int, code: str, message: str, url: str) -> tuple[int, dict, bytes]:
        return self._json(status, {"code": str(status), "id": str(uuid.uuid4()), "message": message,
                                   "Errors": [{"errorCode": code, "message": message, "url": url}]})

    def answer(self, method: str, target: str, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
        parts = urlsplit(target)
        if parts.path == "/connect/token" and method == "POST":
            return self._token(headers, body)
        if not parts.path.startswith(API):
            return self._error(404, "NotFound", "Not found", target)
        auth = headers.get("Authorization") or ""
        bearer = auth[7:] if auth.startswith("Bearer ") else None
        if not bearer or not ((self.jwt and bearer == self.jwt) or bearer in self.access):
            return self._error(401, "Unauthorized", "Access token is invalid or expired", target)
        path = parts.path[len(API):]
        if path == "/statements" and method == "POST":
            try:
                request = json.loads(body)["Data"]["Statement"]
            except (ValueError, KeyError, TypeError):
                return self._error(400, "BadRequest", "Data.Statement is required", target)
            statement_id = str(uuid.uuid4())
            self.statements[statement_id] = {"accountId": request["accountId"], "statementId": statement_id,
                                             "startDateTime": request["startDateTime"],
                                             "endDateTime": request["endDateTime"], "polls": 0}
            return self._json(200, {"Data": {"Statement": {**self._public(statement_id), "status": "Created"}},
                                    "Links": {"self": f"{self.url}{API}/statements"}, "Meta": {"totalPages": 1}})
        segments = path.strip("/").split("/")
        if method == "GET" and len(segments) == 4 and segments[0] == "accounts" and segments[2] == "statements":
            statement = self.statements.get(unquote(segments[3]))
            if statement is None or statement["accountId"] != unquote(segments[1]):
                return self._error(404, "NotFound", "Statement not found", target)
            statement["polls"] += 1
            public = self._public(statement["statementId"])
            if statement["polls"] <= self.processing_polls:
                return self._json(200, {"Data": {"Statement": [{**public, "status": "Processing"}]},
                                        "Links": {"self": f"{self.url}{target}"}, "Meta": {"totalPages": 1}})
            start, end = date.fromisoformat(statement["startDateTime"][:10]), date.fromisoformat(statement["endDateTime"][:10])
            rows = [t for t in self.transactions if start <= date.fromisoformat(t["documentProcessDate"][:10]) <= end]
            size = self.page_size or max(1, len(rows))
            pages = max(1, -(-len(rows) // size))
            page = int(parse_qs(parts.query).get("page", ["1"])[0])
            links = {"self": f"{self.url}{target}"}
            if page < pages:
                links["next"] = f"{self.url}{parts.path}?page={page + 1}"
            return self._json(200, {"Data": {"Statement": [{**public, "status": "Ready",
                                                            "Transaction": rows[(page - 1) * size:page * size]}]},
                                    "Links": links, "Meta": {"totalPages": pages}})
        return self._error(404, "NotFound", "Not found", target)

    def _public(self, statement_id: str) -> dict:
        s = self.statements[statement_id]
        return {k: s[k] for k in ("accountId", "statementId", "startDateTime", "endDateTime")} | {
            "creationDateTime": "2026-03-01T10:00:00+03:00"}

    def _token(self, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = headers.get("Authorization") or ""
        if auth.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            from urllib.parse import unquote as uq
            client_id, client_secret = uq(client_id), uq(client_secret)
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return self._json(401, {"error": "invalid_client"})
        grant = form.get("grant_type")
        if grant == "authorization_code" and form.get("code") in self.codes:
            self.codes.discard(form["code"])
        elif grant == "refresh_token" and form.get("refresh_token") in self.refresh:
            self.refresh.discard(form["refresh_token"])
        else:
            return self._json(400, {"error": "invalid_grant"})
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.access.add(access)
        self.refresh.add(refresh)
        return self._json(200, {"access_token": access, "token_type": "bearer", "expires_in": self.expires_in,
                                "refresh_token": refresh})


def transaction(number: str, day: str, amount: str, *, credit: bool = True, status: str = "Booked",
                payer: tuple[str, str, str] = ("Иванов Иван Иванович", "500100732259", "40817810099910004312"),
                purpose: str = "Членский взнос за 2026 год, участок 12", our: str = "40703810040000012345",
                our_bic: str = "044525104") -> dict:
    """One operation as the bank describes it (payer: name, INN, account of the other side)."""
    other = {"Party": {"inn": payer[1], "name": payer[0]}, "Account": {"schemeName": "RU.CBR.PAN",
                                                                        "identification": payer[2]},
             "Agent": {"schemeName": "RU.CBR.BICFI", "identification": "044525225", "name": "ПАО Сбербанк"}}
    ours = {"Party": {"inn": "5007012345", "name": "СНТ «Рассвет»", "kpp": "500701001"},
            "Account": {"schemeName": "RU.CBR.PAN", "identification": our},
            "Agent": {"schemeName": "RU.CBR.BICFI", "identification": our_bic, "name": "ООО «Банк Точка»"}}
    debtor, creditor = (other, ours) if credit else (ours, other)
    return {"transactionId": str(uuid.uuid4()), "paymentId": number, "creditDebitIndicator": "Credit" if credit else "Debit",
            "status": status, "documentNumber": number, "transactionTypeCode": "Платежное поручение",
            "documentProcessDate": day, "description": purpose,
            "Amount": {"amount": float(amount) if "." in amount else int(amount), "amountNat": float(amount),
                       "currency": "RUB"},
            **{f"Debtor{k}": v for k, v in debtor.items()}, **{f"Creditor{k}": v for k, v in creditor.items()}}


class TBankServer(FakeServer):
    RATE = 20

    def __init__(self, token: str):
        self.token = token
        self.operations: list[dict] = []
        self.page_limit: int | None = None      # the bank's own cap on a page, below the client's limit
        self.calls_at: list[float] = []
        self.too_many = 0
        super().__init__()

    def answer(self, method, target, headers, body):
        import time as _time

        parts = urlsplit(target)
        now = _time.monotonic()
        self.calls_at = [t for t in self.calls_at if now - t < 1.0] + [now]
        if len(self.calls_at) > self.RATE:
            self.too_many += 1
            return self._json(429, {"errorMessage": "Too Many Requests", "errorCode": "429"}, {"Retry-After": "1"})
        if headers.get("Authorization") != f"Bearer {self.token}":
            return self._json(401, {"errorId": str(uuid.uuid4()), "errorMessage": "Unauthorized", "errorCode": "401"})
        if not headers.get("X-Request-Id"):
            return self._json(400, {"errorMessage": "X-Request-Id is required", "errorCode": "400"})
        if parts.path != "/api/v1/statement" or method != "GET":
            return self._json(404, {"errorMessage": "Not found", "errorCode": "404"})
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        try:
            start, till = query["from"], query["till"]
            limit = int(query.get("limit", "50"))
        except (KeyError, ValueError):
            return self._json(400, {"errorMessage": "from and till are required", "errorCode": "400"})
        rows = [o for o in self.operations if o.get("accountNumber", query.get("accountNumber")) == query.get("accountNumber")
                and start[:10] <= o["operationDate"][:10] < till[:10]]
        size = min(limit, self.page_limit or limit)
        offset = int(query.get("cursor") or 0)
        page = rows[offset:offset + size]
        answer = {"operations": [{k: v for k, v in o.items() if k != "accountNumber"} for o in page]}
        if offset + size < len(rows):
            answer["nextCursor"] = str(offset + size)
        return self._json(200, answer)


def tbank_operation(number: str, day: str, amount: str, *, credit: bool = True, status: str = "Transaction",
                    purpose: str = "Членский взнос за 2026 год, участок 12", our: str = "40703810040000012345") -> dict:
    """One operation as T-Business describes it."""
    other = {"acct": "40817810099910004312", "inn": "500100732259", "name": "Иванов Иван Иванович",
             "bicRu": "044525225", "bankName": "ПАО Сбербанк", "corAcct": "30101810400000000225"}
    ours = {"acct": our, "inn": "5007012345", "kpp": "500701001", "name": "СНТ «Рассвет»", "bicRu": "044525974",
            "bankName": "АО «ТБанк»", "corAcct": "30101810145250000974"}
    return {"operationId": str(uuid.uuid4()), "operationDate": f"{day}T09:30:00Z",
            "typeOfOperation": "Credit" if credit else "Debit", "category": "incomePeople" if credit else "fee",
            "description": purpose, "payPurpose": purpose, "accountAmount": float(amount),
            "accountCurrencyDigitalCode": "643", "operationAmount": float(amount), "rubleAmount": float(amount),
            "operationStatus": status, "documentNumber": number, "drawDate": day, "chargeDate": day,
            "payer": other if credit else ours, "receiver": ours if credit else other}


class SberServer(TochkaServer):
    """SberBusiness: the OAuth part is the same RFC 6749 token endpoint as Точка's; the statement is per day."""

    PAGE = 100

    def __init__(self, tls, client_id: str = "sber-client", client_secret: str = "sber-secret"):
        self.operations: list[dict] = []
        super().__init__(None, client_id, client_secret, tls=tls)
        self.page_size = self.PAGE

    def answer(self, method, target, headers, body):
        parts = urlsplit(target)
        if parts.path == "/ic/sso/api/v2/oauth/token" and method == "POST":
            return self._token(headers, body)
        auth = headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or auth[7:] not in self.access:
            return self._json(401, {"cause": "UNAUTHORIZED", "message": "Invalid access token"})
        if parts.path != "/fintech/api/v2/statement/transactions" or method != "GET":
            return self._json(404, {"cause": "NOT_FOUND", "message": "Not found"})
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        day, page = query.get("statementDate"), int(query.get("page", "1"))
        rows = [o for o in self.operations if o["operationDate"][:10] == day]
        size = self.page_size
        links = []
        if page * size < len(rows):
            links.append({"rel": "next", "href": f"{self.url}{parts.path}?accountNumber={query.get('accountNumber')}"
                                                 f"&statementDate={day}&page={page + 1}"})
        return self._json(200, {"transactions": rows[(page - 1) * size:page * size], "_links": links})


def sber_operation(number: str, day: str, amount: str, *, credit: bool = True,
                   purpose: str = "Членский взнос за 2026 год, участок 12", our: str = "40703810040000012345") -> dict:
    """One operation as the SberBusiness API describes it."""
    other = {"Account": "40817810099910004312", "Name": "Иванов Иван Иванович", "Inn": "500100732259",
             "BankBic": "044525225"}
    ours = {"Account": our, "Name": "СНТ «Рассвет»", "Inn": "5007012345", "BankBic": "044525225"}
    payer, payee = (other, ours) if credit else (ours, other)
    return {"uuid": str(uuid.uuid4()), "operationDate": f"{day}T10:15:00", "direction": "CREDIT" if credit else "DEBIT",
            "amount": {"amount": amount, "currencyName": "RUB"}, "amountRub": {"amount": amount, "currencyName": "RUB"},
            "documentDate": day, "number": number, "operationCode": "01", "paymentPurpose": purpose,
            "rurTransfer": {**{f"payer{k}": v for k, v in payer.items()}, **{f"payee{k}": v for k, v in payee.items()}}}


WSDL = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tns="urn:bank:statements" targetNamespace="urn:bank:statements">
  <types>
    <xs:schema targetNamespace="urn:bank:statements" elementFormDefault="qualified">
      <xs:element name="GetStatementRequest"><xs:complexType><xs:sequence>
        <xs:element name="accountNumber" type="xs:string"/>
        <xs:element name="dateFrom" type="xs:date"/>
        <xs:element name="dateTo" type="xs:date"/>
      </xs:sequence></xs:complexType></xs:element>
      <xs:element name="GetStatementResponse"><xs:complexType><xs:sequence>
        <xs:element name="fileName" type="xs:string" minOccurs="0"/>
        <xs:element name="content" type="xs:base64Binary"/>
      </xs:sequence></xs:complexType></xs:element>
    </xs:schema>
  </types>
  <message name="GetStatementIn"><part name="parameters" element="tns:GetStatementRequest"/></message>
  <message name="GetStatementOut"><part name="parameters" element="tns:GetStatementResponse"/></message>
  <portType name="StatementPort">
    <operation name="GetStatement"><input message="tns:GetStatementIn"/><output message="tns:GetStatementOut"/></operation>
  </portType>
  <binding name="StatementBinding" type="tns:StatementPort">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="GetStatement">
      <soap:operation soapAction="urn:bank:statements#GetStatement"/>
      <input><soap:body use="literal"/></input><output><soap:body use="literal"/></output>
    </operation>
  </binding>
  <service name="StatementService">
    <port name="StatementPort" binding="tns:StatementBinding"><soap:address location="{address}"/></port>
  </service>
</definitions>
"""


class SoapBankServer(FakeServer):
    def __init__(self, account: str):
        self.account = account
        self.statement = b""            # the file the service hands out
        self.asked: list[tuple[str, str, str]] = []
        super().__init__()

    def answer(self, method, target, headers, body):
        from lxml import etree

        parts = urlsplit(target)
        if parts.path != "/service":
            return 404, {"Content-Type": "text/plain"}, b"not found"
        if method == "GET":
            return 200, {"Content-Type": "text/xml; charset=utf-8"}, \
                WSDL.replace("{address}", f"{self.url}/service").encode("utf-8")
        ns = {"s": "http://schemas.xmlsoap.org/soap/envelope/", "b": "urn:bank:statements"}
        try:
            request = etree.fromstring(body).find("s:Body/b:GetStatementRequest", ns)
            account, start, end = (request.findtext(f"b:{k}", namespaces=ns) for k in ("accountNumber", "dateFrom", "dateTo"))
        except (etree.XMLSyntaxError, AttributeError):
            return self._fault("Client", "Malformed request")
        self.asked.append((account, start, end))
        if account != self.account:
            return self._fault("Client", "Unknown account")
        content = base64.b64encode(self.statement).decode()
        envelope = (f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{ns["s"]}"><s:Body>'
                    f'<GetStatementResponse xmlns="{ns["b"]}"><fileName>kl_to_1c.txt</fileName>'
                    f'<content>{content}</content></GetStatementResponse></s:Body></s:Envelope>')
        return 200, {"Content-Type": "text/xml; charset=utf-8"}, envelope.encode("utf-8")

    @staticmethod
    def _fault(code: str, text: str):
        envelope = ('<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
                    f'<s:Body><s:Fault><faultcode>s:{code}</faultcode><faultstring>{text}</faultstring></s:Fault>'
                    '</s:Body></s:Envelope>')
        return 500, {"Content-Type": "text/xml; charset=utf-8"}, envelope.encode("utf-8")
