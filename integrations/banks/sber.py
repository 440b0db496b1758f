"""SberBusiness API: `GET /fintech/api/v2/statement/transactions` (accountNumber, statementDate — one day, page —
100 operations a page, `_links` rel=next), OAuth 2.0 authorization code through СберБизнес ID with refresh tokens
(access about 60 minutes, refresh 180 days; `coop bank login sber`), a client TLS certificate and the Russian
Trusted Root CA (Минцифры) as `ca_file`. The bank keeps dates in UTC: a Moscow day is complete only after 03:00
Moscow time of the next day, so only days complete by then are read (today's operations come with the next run).
Each page is imported as it came (ledger.bankformats.sber).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Iterator

from ledger.bankformats.open_banking import load_json
from ledger.db import utcnow

from ..base import Field, IntegrationError
from ..http import HttpClient, OAuth2
from .api import ApiBankSource

PRODUCTION = "https://fintech.sberbank.ru:9443"
TOKEN_URL = "https://fintech.sberbank.ru:9443/ic/sso/api/v2/oauth/token"
AUTHORIZE_URL = "https://sbi.sberbank.ru:9443/ic/sso/api/v2/oauth/authorize"
SCOPE = "openid GET_STATEMENT_ACCOUNT GET_STATEMENT_TRANSACTION"
MAX_PAGES = 1000


class SberSource(ApiBankSource):
    name = "sber"
    title = "СберБизнес API"
    fields = (
        Field("base_url", "Адрес API", "url", default=PRODUCTION, help="тестовый контур или локальный сервер"),
        Field("account", "Расчётный счёт (20 цифр)", required=True),
        Field("client_id", "client_id (СберБизнес ID)", required=True),
        Field("client_secret", "client_secret", secret=True, required=True),
        Field("token_url", "Адрес выдачи токенов", "url", default=TOKEN_URL),
        Field("authorize_url", "Адрес страницы согласия", "url", default=AUTHORIZE_URL),
        Field("client_cert", "Клиентский сертификат (PEM)", "pem", required=True),
        Field("client_key", "Закрытый ключ сертификата (PEM, без пароля)", "pem", secret=True, required=True),
        Field("ca_file", "Корневой сертификат Минцифры (Russian Trusted Root CA), файл PEM", "path",
              help="без него соединение с банком не проверяется и не устанавливается"),
    ) + ApiBankSource.COMMON_FIELDS
    login_help = "Пройдите авторизацию через СберБизнес ID заново: coop bank login sber --redirect-uri …"

    def oauth(self) -> OAuth2:
        return OAuth2(self.setting("token_url"), self.setting("client_id"), self.setting("client_secret"),
                      scope=SCOPE, grant="authorization_code")

    def client(self) -> HttpClient:
        return HttpClient(self, base_url=str(self.setting("base_url")).rstrip("/") + "/", oauth=self.oauth(),
                          client_cert=(self.setting("client_cert"), self.setting("client_key")),
                          ca_file=self.settings.get("ca_file"))

    def end_day(self) -> date:
        """The last complete day: day D is final once it is 03:00 in Moscow on D+1 (00:00 UTC)."""
        return utcnow().date() - timedelta(days=1)

    def fetch(self, start: date, end: date) -> Iterator[tuple[str, bytes]]:
        account = str(self.setting("account"))
        if not (account.isdigit() and len(account) == 20):
            raise IntegrationError(f"Интеграция {self.name}, параметр «Расчётный счёт» (account): нужно 20 цифр")
        with self.client() as client:
            day = start
            while day <= end:
                url, params = "fintech/api/v2/statement/transactions", {"accountNumber": account,
                                                                        "statementDate": day.isoformat(), "page": 1}
                for page in range(1, MAX_PAGES + 1):
                    raw = self.call(client, "GET", url, "получение выписки", params=params,
                                    headers={"Accept": "application/json"})
                    name = f"{self.name} {day:%d.%m.%Y}, страница {page}.json"
                    body = load_json(raw, name)
                    if not isinstance(body, dict) or not isinstance(body.get("transactions"), list):
                        raise IntegrationError(f"Интеграция {self.name}: в ответе банка нет списка transactions")
                    yield name, raw
                    following = self.next_link(next((link.get("href") for link in body.get("_links") or []
                                                     if isinstance(link, dict) and link.get("rel") == "next"), None))
                    if not following or not body["transactions"]:
                        break
                    url, params = following, None
                day += timedelta(days=1)

    def check(self) -> str:
        self.oauth()
        return f"счёт {self.setting('account')}: настройки заполнены"
