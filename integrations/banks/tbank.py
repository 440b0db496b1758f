"""T-Business (Т-Банк) Open API: `GET /api/v1/statement` (accountNumber, from, till, limit, cursor → operations,
nextCursor), a Bearer token issued in the T-Business web client, an X-Request-Id per request, at most 20
requests a second, a client certificate (mTLS) where the token requires it. Each page is imported as it came
(ledger.bankformats.tbank).
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import date, datetime, time as day_time, timedelta
from typing import Iterator

from ledger.bankformats.open_banking import load_json

from ..base import Field, IntegrationError
from ..http import HttpClient
from .api import ApiBankSource, jwt_expiry

PRODUCTION = "https://business.tbank.ru/openapi"
RATE = 20            # requests a second the bank allows
PAGE = 1000          # operations a page (the API's maximum is 5000)
MAX_PAGES = 10000


class Throttle:
    """At most `rate` calls a second, across the threads of this process."""

    def __init__(self, rate: int):
        self.interval = 1.0 / rate
        self.lock = threading.Lock()
        self.next_at = 0.0

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            delay = self.next_at - now
            self.next_at = max(now, self.next_at) + self.interval
        if delay > 0:
            time.sleep(delay)


_throttle = Throttle(RATE - 1)   # a request's own jitter must not tip a second over the bank's limit


class TBankSource(ApiBankSource):
    name = "tbank"
    title = "Т-Бизнес: Open API"
    fields = (
        Field("base_url", "Адрес API", "url", default=PRODUCTION, help="для токена с mTLS — адрес из документации банка"),
        Field("account", "Расчётный счёт (20 цифр)", required=True),
        Field("token", "Токен T-Business Open API", secret=True, required=True,
              help="выпускается в интернет-банке: «Интеграции» → «Открытое API»"),
        Field("client_cert", "Клиентский сертификат (PEM), если токен выпущен с mTLS", "pem"),
        Field("client_key", "Закрытый ключ сертификата (PEM, без пароля)", "pem", secret=True),
        Field("ca_file", "Файл корневых сертификатов (CA)", "path"),
    ) + ApiBankSource.COMMON_FIELDS
    login_help = ("Выпустите новый токен в интернет-банке Т-Бизнес («Интеграции» → «Открытое API») и сохраните его: "
                  "coop integrations configure tbank token=…")

    def client(self) -> HttpClient:
        cert = self.settings.get("client_cert")
        key = self.settings.get("client_key")
        if bool(cert) != bool(key):
            raise IntegrationError(f"Интеграция {self.name}: для mTLS нужны и сертификат (client_cert), и ключ (client_key)")
        return HttpClient(self, base_url=str(self.setting("base_url")).rstrip("/") + "/",
                          client_cert=(cert, key) if cert else None, ca_file=self.settings.get("ca_file"))

    def token_expiry(self) -> datetime | None:
        return jwt_expiry(self.settings.get("token"))

    def fetch(self, start: date, end: date) -> Iterator[tuple[str, bytes]]:
        account = str(self.setting("account"))
        if not (account.isdigit() and len(account) == 20):
            raise IntegrationError(f"Интеграция {self.name}, параметр «Расчётный счёт» (account): нужно 20 цифр")
        label = f"{self.name} {start:%d.%m.%Y}–{end:%d.%m.%Y}"
        params = {"accountNumber": account, "from": datetime.combine(start, day_time()).isoformat() + "Z",
                  "till": datetime.combine(end + timedelta(days=1), day_time()).isoformat() + "Z", "limit": PAGE}
        cursor = None
        with self.client() as client:
            for page in range(1, MAX_PAGES + 1):
                _throttle.wait()
                raw = self.call(client, "GET", "api/v1/statement", "получение выписки",
                                params={**params, **({"cursor": cursor} if cursor else {})},
                                headers={**self.bearer(), "X-Request-Id": str(uuid.uuid4()),
                                         "Accept": "application/json"})
                name = f"{label}, страница {page}.json"
                body = load_json(raw, name)
                if not isinstance(body, dict) or not isinstance(body.get("operations"), list):
                    raise IntegrationError(f"Интеграция {self.name}: в ответе банка нет списка operations")
                yield name, raw
                cursor = body.get("nextCursor")
                if not cursor or not body.get("operations"):
                    break

    def check(self) -> str:
        self.setting("token")
        return f"счёт {self.setting('account')}: настройки заполнены"
