"""Точка's Open Banking API (`/open-banking/v1.0`): statements straight from the bank.

Authorization: the long-lived JWT issued in the bank's web client («Сервисы» → «Интеграции и API»), or OAuth 2.0
(authorization code through the bank's consent page, refresh tokens; `coop bank login open_banking`).
A statement is requested with `POST /statements` (accountId «счёт/БИК», start and end date) and read with
`GET /accounts/{accountId}/statements/{statementId}` once its status is `Ready` (polled; `Processing` before);
a long answer continues at `Links.next`. Each answer is imported as it came (ledger.bankformats.open_banking).
"""

from __future__ import annotations

import time
from datetime import date
from typing import Iterator
from urllib.parse import quote

from ledger.bankformats.open_banking import load_json

from ..base import Field, IntegrationError
from ..http import HttpClient, OAuth2
from .api import ApiBankSource

PRODUCTION = "https://enter.tochka.com/uapi/open-banking/v1.0"
TOKEN_URL = "https://enter.tochka.com/connect/token"
AUTHORIZE_URL = "https://enter.tochka.com/connect/authorize"
MAX_PAGES = 1000


class OpenBankingSource(ApiBankSource):
    name = "open_banking"
    title = "Точка: Open Banking API"
    fields = (
        Field("base_url", "Адрес API", "url", default=PRODUCTION, help="тестовый контур или локальный сервер"),
        Field("account", "Расчётный счёт (20 цифр)", required=True),
        Field("bic", "БИК банка", required=True),
        Field("token", "JWT-ключ из интернет-банка", secret=True,
              help="«Сервисы» → «Интеграции и API»; либо OAuth: client_id и client_secret"),
        Field("client_id", "client_id (OAuth 2.0)"),
        Field("client_secret", "client_secret (OAuth 2.0)", secret=True),
        Field("token_url", "Адрес выдачи токенов (OAuth 2.0)", "url", default=TOKEN_URL),
        Field("authorize_url", "Адрес страницы согласия (OAuth 2.0)", "url", default=AUTHORIZE_URL),
        Field("poll_seconds", "Пауза между проверками готовности выписки, с", "int", default=2),
        Field("poll_attempts", "Сколько раз проверять готовность", "int", default=30),
    ) + ApiBankSource.COMMON_FIELDS

    @property
    def login_help(self) -> str:
        if self.settings.get("token"):
            return ("Выпустите новый JWT-ключ в интернет-банке Точки («Сервисы» → «Интеграции и API») и сохраните его: "
                    "coop integrations configure open_banking token=… (или на странице «Интеграции»)")
        return "Пройдите авторизацию в банке заново: coop bank login open_banking"

    def account_id(self) -> str:
        account, bic = str(self.setting("account")), str(self.setting("bic"))
        if not (account.isdigit() and len(account) == 20):
            raise IntegrationError(f"Интеграция {self.name}, параметр «Расчётный счёт» (account): нужно 20 цифр")
        return f"{account}/{bic}"

    def oauth(self) -> OAuth2 | None:
        if self.settings.get("token"):
            return None
        if not (self.settings.get("client_id") and self.settings.get("client_secret")):
            raise IntegrationError(f"Интеграция {self.name}: не задан ни JWT-ключ (token), ни client_id и "
                                   f"client_secret для OAuth 2.0")
        return OAuth2(self.setting("token_url"), self.settings["client_id"], self.settings["client_secret"],
                      scope="accounts statements", grant="authorization_code")

    def client(self) -> HttpClient:
        return HttpClient(self, base_url=str(self.setting("base_url")).rstrip("/") + "/", oauth=self.oauth())

    def _call(self, client: HttpClient, method: str, url: str, operation: str, **kw) -> bytes:
        headers = {"Accept": "application/json"}
        if self.settings.get("token"):
            headers.update(self.bearer())
        return self.call(client, method, url, operation, headers=headers, **kw)

    def fetch(self, start: date, end: date) -> Iterator[tuple[str, bytes]]:
        account_id = self.account_id()
        label = f"{self.name} {start:%d.%m.%Y}–{end:%d.%m.%Y}"
        with self.client() as client:
            body = {"Data": {"Statement": {"accountId": account_id, "startDateTime": start.isoformat(),
                                           "endDateTime": end.isoformat()}}}
            created = load_json(self._call(client, "POST", "statements", "запрос выписки", json=body),
                                f"{label}: ответ на запрос выписки")
            statement = _first(created)
            statement_id = statement.get("statementId") if statement else None
            if not statement_id:
                raise IntegrationError(f"Интеграция {self.name}: банк не вернул номер выписки (statementId)")
            url = f"accounts/{quote(account_id, safe='')}/statements/{quote(str(statement_id), safe='')}"
            raw = b""
            for attempt in range(max(1, int(self.setting("poll_attempts")))):
                raw = self._call(client, "GET", url, "получение выписки")
                state = str((_first(load_json(raw, f"{label}, страница 1")) or {}).get("status") or "")
                if state == "Ready":
                    break
                if state not in ("Created", "Processing"):
                    raise IntegrationError(f"Интеграция {self.name}: банк не смог сформировать выписку (статус "
                                           f"«{state or 'нет'}»)")
                time.sleep(max(0, int(self.setting("poll_seconds"))))
            else:
                raise IntegrationError(f"Интеграция {self.name}: выписка ещё формируется в банке (статус Processing) — "
                                       f"повторите синхронизацию позже")
            page = 1
            while True:
                yield f"{label}, страница {page}.json", raw
                following = self.next_link((load_json(raw, f"{label}, страница {page}").get("Links") or {}).get("next"))
                if not following or page >= MAX_PAGES:
                    break
                page += 1
                raw = self._call(client, "GET", following, "получение выписки")

    def check(self) -> str:
        self.account_id()
        self.oauth()
        return f"счёт {self.setting('account')}, БИК {self.setting('bic')}: настройки заполнены"


def _first(body) -> dict | None:
    statements = (body.get("Data") or {}).get("Statement") if isinstance(body, dict) else None
    if isinstance(statements, list):
        return statements[0] if statements and isinstance(statements[0], dict) else None
    return statements if isinstance(statements, dict) else None

