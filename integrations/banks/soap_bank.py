"""A WSDL-described statement service (SOAP) through zeep, for banks and processing centres that still expose one.

The service's operation (setting `operation`, by default GetStatement) takes the account and the period
(`accountNumber`, `dateFrom`, `dateTo`) and returns the statement as a file — 1C, camt.053, MT940 or any format
the bank-import code reads — in a base64Binary or string element (setting `result_field`, by default `content`).
That file is the statement's original and goes through the same readers as an upload. Every request, the WSDL
included, goes through integrations/http.py (retries, audit, mTLS); `base_url` replaces the address the WSDL
names (a test contour, a local relay).
"""

from __future__ import annotations

from datetime import date
from typing import Iterator

from ..base import Field, IntegrationError
from ..http import HttpClient
from .api import ApiBankSource


def _transport(source: "SoapBankSource", client: HttpClient):
    """A zeep transport whose every request goes through our HttpClient, not its own requests session."""
    from zeep.transports import Transport

    class Through(Transport):
        def post(self, address, message, headers):
            return client.request("POST", address, operation="SOAP", content=message, headers=dict(headers),
                                  raise_for_status=False, retry_safe=True)

        def get(self, address, params, headers):
            return client.request("GET", address, operation="WSDL", params=params, headers=dict(headers),
                                  raise_for_status=False)

        def _load_remote_data(self, url):
            return source.call(client, "GET", url, "WSDL")

    return Through()


class SoapBankSource(ApiBankSource):
    name = "soap_bank"
    title = "Банк или процессинг: SOAP-сервис выписок (WSDL)"
    requires = ("zeep",)
    fields = (
        Field("wsdl", "Адрес или файл WSDL", required=True),
        Field("base_url", "Адрес сервиса", "url", help="по умолчанию — указанный в WSDL"),
        Field("account", "Расчётный счёт (20 цифр)", required=True),
        Field("operation", "Операция выписки", default="GetStatement"),
        Field("result_field", "Элемент ответа с файлом выписки", default="content"),
        Field("username", "Логин (WS-Security)"),
        Field("password", "Пароль (WS-Security)", secret=True),
        Field("client_cert", "Клиентский сертификат (PEM)", "pem"),
        Field("client_key", "Закрытый ключ сертификата (PEM, без пароля)", "pem", secret=True),
        Field("ca_file", "Файл корневых сертификатов (CA)", "path"),
    ) + ApiBankSource.COMMON_FIELDS
    login_help = "Проверьте логин и пароль сервиса: coop integrations configure soap_bank username=… password=…"

    def client(self) -> HttpClient:
        cert, key = self.settings.get("client_cert"), self.settings.get("client_key")
        return HttpClient(self, client_cert=(cert, key) if cert and key else None, ca_file=self.settings.get("ca_file"))

    def fetch(self, start: date, end: date) -> Iterator[tuple[str, bytes]]:
        import zeep
        from zeep.exceptions import Error as ZeepError, Fault
        from zeep.wsse.username import UsernameToken

        account = str(self.setting("account"))
        name = f"{self.name} {start:%d.%m.%Y}–{end:%d.%m.%Y}"
        with self.client() as http:
            try:
                wsse = UsernameToken(self.settings["username"], self.settings.get("password") or "") \
                    if self.settings.get("username") else None
                soap = zeep.Client(str(self.setting("wsdl")), transport=_transport(self, http), wsse=wsse)
                service = soap.service
                if self.settings.get("base_url"):
                    binding = next(iter(soap.wsdl.services.values())).ports
                    service = soap.create_service(next(iter(binding.values())).binding.name, self.settings["base_url"])
                operation = getattr(service, str(self.setting("operation")))
                answer = operation(accountNumber=account, dateFrom=start, dateTo=end)
            except Fault as exc:
                reason = "авторизация не принята" if "auth" in str(exc.message or "").lower() else exc.message
                raise IntegrationError(f"Интеграция {self.name}: сервис отказал: {reason}") from None
            except AttributeError:
                raise IntegrationError(f"Интеграция {self.name}: в WSDL нет операции «{self.setting('operation')}»") \
                    from None
            except (ZeepError, ValueError, TypeError) as exc:
                raise IntegrationError(f"Интеграция {self.name}: ответ сервиса не разобран ({type(exc).__name__}: "
                                       f"{str(exc)[:200]})") from None
        field = str(self.setting("result_field"))
        content = answer[field] if not isinstance(answer, (bytes, str)) and field in answer else answer
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, bytes):
            raise IntegrationError(f"Интеграция {self.name}: в ответе нет файла выписки (элемент «{field}»)")
        if content:
            yield name, content

    def check(self) -> str:
        return f"WSDL {self.setting('wsdl')}, счёт {self.setting('account')}: настройки заполнены"
