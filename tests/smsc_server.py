"""Local fake SMSC.ru written from its published HTTP API documentation (https://smsc.ru/api/http/): send.php
(phones + mes, or list=<phone>:<text> lines, fmt=3 JSON, op=1 details per phone, cost=1 price without sending),
status.php (phone and id lists; status, err, last_date), balance.php; errors as {"error", "error_code"} with the
documented codes 1–9 (9: too many identical or simultaneous requests), and HTTP 429 when told to throttle.
Served by cheroot on 127.0.0.1 (plain HTTP: COOP_ALLOW_INSECURE_LOOPBACK=1)."""

from __future__ import annotations

import itertools
import re
import time

from tests.sms_servers import FakeSmsService

LOGIN = "snt-rassvet"
PSW = "smsc-Pa55-word"
PRICE = "2.95"                      # ₽ per SMS in the fake's tariff
NO_ROUTE = "79990000000"            # the fake cannot deliver to this number (error 8)
UNDELIVERED = "79990000001"         # accepted, later «20 невозможно доставить» with err 1 (абонент не существует)
_phone = re.compile(r"^7\d{10}$")


def parts(text: str) -> int:
    """SMSC's count: a text with any character outside Latin-1 (Cyrillic) is 70 per SMS, 67 per part of a long
    one; otherwise 160/153."""
    if all(ord(c) < 128 for c in text):
        return 1 if len(text) <= 160 else -(-len(text) // 153)
    return 1 if len(text) <= 70 else -(-len(text) // 67)


class FakeSmsc(FakeSmsService):
    def __init__(self):
        super().__init__()
        self.sent: dict[tuple[str, str], dict] = {}     # (id, phone) -> {text, at}
        self.busy = 0                     # answer error 9 to this many next requests
        self.deliver_after = 0.0          # seconds before a message reads «доставлено» (0: at once)
        self._ids = itertools.count(1001)

    def answer(self, path: str, p: dict):
        with self._lock:
            busy = self.busy > 0
            self.busy -= busy
        if busy:
            return {"error": "duplicate request, wait a minute", "error_code": 9}
        if p.get("fmt") != "3" or p.get("charset") != "utf-8":
            return {"error": "parameters error", "error_code": 1}
        if not (p.get("apikey") == PSW or (p.get("login") == LOGIN and p.get("psw") == PSW)):
            return {"error": "authorise error", "error_code": 2}
        if path == "/sys/balance.php":
            return {"balance": "512.40", "currency": "RUR"}
        if path == "/sys/status.php":
            return self.status(p)
        if path != "/sys/send.php":
            return {"error": "parameters error", "error_code": 1}
        if p.get("list"):
            texts = []
            for line in p["list"].splitlines():
                phone, sep, text = line.partition(":")
                if not sep:
                    return {"error": "parameters error", "error_code": 1}
                texts.append((phone.strip(), text.replace("\\n", "\n")))
        elif p.get("phones") and "mes" in p:
            texts = [(ph.strip(), p["mes"]) for ph in re.split(r"[,;]", p["phones"]) if ph.strip()]
        else:
            return {"error": "parameters error", "error_code": 1}
        if any(not t for _, t in texts):
            return {"error": "parameters error", "error_code": 1}
        good = [(ph, t) for ph, t in texts if _phone.match(ph) and ph != NO_ROUTE]
        details = [{"phone": ph, "mccmnc": "25001" if (ph, t) in good else "0",
                    "cost": f"{parts(t) * float(PRICE):.2f}" if (ph, t) in good else "0",
                    **({} if (ph, t) in good else {"error": "7" if not _phone.match(ph) else "8"})}
                   for ph, t in texts]
        cnt = sum(parts(t) for _, t in good)
        if p.get("cost") == "1":
            answer = {"cost": f"{cnt * float(PRICE):.2f}", "cnt": cnt}
            return answer | ({"phones": details} if p.get("op") == "1" else {})
        request_id = next(self._ids)
        if not good:     # nothing to send: the documented error with the message id
            code = 7 if len(texts) == 1 and not _phone.match(texts[0][0]) else 8
            return {"error": ERRORS[code], "error_code": code, "id": request_id}
        now = time.monotonic()
        for ph, t in good:
            self.sent[(str(request_id), ph)] = {"text": t, "at": now}
        answer = {"id": request_id, "cnt": cnt}
        return answer | ({"phones": details} if p.get("op") == "1" else {})

    def status(self, p: dict):
        phones = [x for x in p.get("phone", "").split(",") if x]
        ids = [x for x in p.get("id", "").split(",") if x]
        if not phones or len(phones) != len(ids):
            return {"error": "parameters error", "error_code": 1}
        out = []
        for ph, mid in zip(phones, ids):
            found = self.sent.get((mid, ph))
            if found is None:
                out.append({"status": -3, "err": 0, "id": int(mid), "phone": ph})
                continue
            ready = time.monotonic() - found["at"] >= self.deliver_after
            if ph == UNDELIVERED and ready:
                status, err = 20, 1
            else:
                status, err = (1, 0) if ready else (0, 0)
            out.append({"status": status, "last_date": time.strftime("%d.%m.%Y %H:%M:%S"),
                        "last_timestamp": int(time.time()), "err": err, "id": int(mid), "phone": ph})
        multiple = p.get("id", "").endswith(",")
        return out if multiple else out[0]


ERRORS = {7: "invalid number", 8: "can't deliver"}
