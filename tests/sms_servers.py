"""Local fake SMS.ru written from its published documentation (https://sms.ru/api/send, /api/cost, /api/status,
/api/balance): form or query parameters, json=1 answers with a top-level status and one entry per phone, the
documented status codes. Served by cheroot on 127.0.0.1 (plain HTTP: COOP_ALLOW_INSECURE_LOOPBACK=1)."""

from __future__ import annotations

import itertools
import json
import re
import threading
from urllib.parse import parse_qsl

from tests.smtp_server import serve_wsgi

API_ID = "A1B2C3D4-SMSRU-KEY"
PRICE = "3.49"                     # ₽ per SMS segment in the fake's tariff
NO_ROUTE = "79990000000"           # the fake answers 207 for this number
_phone = re.compile(r"^7\d{10}$")


def segments(text: str) -> int:
    """SMS.ru's rule: a text with any Cyrillic letter goes 70 characters per SMS, 67 per part of a long one;
    a Latin text 160/153."""
    if all(ord(c) < 128 for c in text):
        return 1 if len(text) <= 160 else -(-len(text) // 153)
    return 1 if len(text) <= 70 else -(-len(text) // 67)


class FakeSmsService:
    """What the fake SMS services share: form or query parameters, JSON answers, HTTP 429 on request."""

    def __init__(self):
        self.sent: dict = {}
        self.requests = 0
        self.throttle = 0                    # answer 429 to this many next requests
        self._lock = threading.Lock()
        self.server, self.base_url = serve_wsgi(self.app)

    def stop(self):
        self.server.stop()

    def app(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)).decode("utf-8")
        params = dict(parse_qsl(environ.get("QUERY_STRING", ""))) | dict(parse_qsl(body))
        with self._lock:
            self.requests += 1
            if self.throttle:
                self.throttle -= 1
                start_response("429 Too Many Requests", [("Retry-After", "0"), ("Content-Type", "text/plain")])
                return [b"Too Many Requests"]
        answer = self.answer(environ["PATH_INFO"], params)
        start_response("200 OK", [("Content-Type", "application/json; charset=utf-8")])
        return [json.dumps(answer, ensure_ascii=False).encode("utf-8")]

    def answer(self, path: str, params: dict):
        raise NotImplementedError


class FakeSmsRu(FakeSmsService):
    def __init__(self):
        super().__init__()
        self.sent: dict[str, dict] = {}      # sms_id -> {phone, text}
        self._ids = itertools.count(1)

    def _texts(self, params) -> dict[str, str]:
        texts = {m.group(1): v for k, v in params.items() if (m := re.fullmatch(r"to\[(\d+)\]", k))}
        if params.get("to"):
            texts.update({p.strip(): params.get("msg", "") for p in params["to"].split(",")})
        return texts

    def answer(self, path: str, params: dict) -> dict:
        if params.get("api_id") != API_ID:
            return {"status": "ERROR", "status_code": 200, "status_text": "Неправильный api_id"}
        if path == "/my/balance":
            return {"status": "OK", "status_code": 100, "balance": 4122.56}
        if path == "/sms/status":
            out = {}
            for sms_id in params.get("sms_id", "").split(","):
                if sms_id in self.sent:
                    out[sms_id] = {"status": "OK", "status_code": 103, "cost": PRICE, "status_text": "Сообщение доставлено"}
                else:
                    out[sms_id] = {"status": "ERROR", "status_code": -1, "status_text": "Сообщение не найдено"}
            return {"status": "OK", "status_code": 100, "sms": out}
        texts = self._texts(params)
        if not texts:
            return {"status": "ERROR", "status_code": 202, "status_text": "Неправильно указан номер телефона получателя"}
        if len(texts) > 100:
            return {"status": "ERROR", "status_code": 207,
                    "status_text": "На этот номер (или один из номеров) нельзя отправлять сообщения, либо указано "
                                   "более 100 номеров в списке получателей"}
        out, total_cost, total_sms = {}, 0.0, 0
        for phone, text in texts.items():
            if not _phone.match(phone) or phone == NO_ROUTE:
                out[phone] = {"status": "ERROR", "status_code": 207,
                              "status_text": "На этот номер (или один из номеров) нельзя отправлять сообщения"}
                continue
            if not text:
                out[phone] = {"status": "ERROR", "status_code": 203, "status_text": "Нет текста сообщения"}
                continue
            n = segments(text)
            if path == "/sms/cost":
                out[phone] = {"status": "OK", "status_code": 100, "cost": round(n * float(PRICE), 2), "sms": n}
                total_cost += n * float(PRICE)
                total_sms += n
            else:
                sms_id = f"000000-{next(self._ids):08d}"
                self.sent[sms_id] = {"phone": phone, "text": text}
                out[phone] = {"status": "OK", "status_code": 100, "sms_id": sms_id}
        if path == "/sms/cost":
            return {"status": "OK", "status_code": 100, "sms": out, "total_cost": round(total_cost, 2),
                    "total_sms": total_sms}
        return {"status": "OK", "status_code": 100, "sms": out, "balance": 4122.56}
