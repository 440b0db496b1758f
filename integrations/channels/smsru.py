"""SMS through SMS.ru (Channel): https://sms.ru/api — send, cost, status, balance, JSON answers (json=1).

Up to 100 recipients per request, each with its own text (`to[<phone>]=<text>`); the answer has one entry per
phone with `sms_id` or an error `status_code`. Delivery state: /sms/status by sms_id.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ledger.members import mask

from ..base import Delivery, Field, IntegrationError, OutgoingMessage
from ..http import HttpClient
from . import SmsChannel, sms_phone

# status_code → Russian status (from the SMS.ru documentation's list of codes)
CODES = {
    100: "принято", 101: "передаётся оператору", 102: "отправлено (в пути)", 103: "доставлено",
    104: "не доставлено: истекло время жизни", 105: "не доставлено: удалено оператором",
    106: "не доставлено: сбой в телефоне", 107: "не доставлено: неизвестная причина", 108: "не доставлено: отклонено",
    110: "прочитано", 150: "не доставлено: не найден маршрут на этот номер",
    200: "неправильный api_id", 201: "не хватает средств на счёте SMS.ru", 202: "неправильно указан получатель",
    203: "нет текста сообщения", 204: "имя отправителя не согласовано с администрацией",
    205: "сообщение слишком длинное", 206: "превышен дневной лимит на отправку", 207: "на этот номер нельзя отправлять",
    208: "неправильно указано время отправки", 209: "номер в стоп-листе", 210: "нужен POST вместо GET",
    211: "метод не найден", 212: "текст нужно передать в UTF-8", 220: "сервис временно недоступен",
    230: "превышен дневной лимит сообщений на этот номер", 231: "превышен лимит одинаковых сообщений в минуту",
    232: "превышен дневной лимит одинаковых сообщений", 300: "неправильный token",
    301: "неправильный api_id или логин/пароль", 302: "аккаунт не подтверждён",
}
DELIVERED = {103, 110}
IN_PROGRESS = {100, 101, 102}
PERMANENT = {202, 207, 209}        # retrying will not help this recipient
BATCH = 100


def status_text(code: Any) -> str:
    try:
        return CODES.get(int(code), f"код {code}")
    except (TypeError, ValueError):
        return f"код {code}"


class SmsRuChannel(SmsChannel):
    name = "smsru"
    title = "SMS через SMS.ru"
    batch_size = BATCH
    fields = (
        Field("api_id", "Ключ API (api_id)", secret=True, required=True),
        Field("sender", "Имя отправителя (согласованное)"),
        Field("base_url", "Адрес API", "url", default="https://sms.ru"),
        Field("ca_file", "Файл доверенного сертификата (CA)", "path"),
    )

    def _call(self, client: HttpClient, path: str, operation: str, data: dict) -> dict:
        response = client.post(path, operation=operation, data={"api_id": self.setting("api_id"), "json": 1, **data},
                               retry_safe=operation != "send")
        try:
            answer = response.json()
        except ValueError:
            raise IntegrationError(f"Интеграция smsru, {operation}: ответ не в формате JSON") from None
        if answer.get("status") != "OK":
            raise IntegrationError(f"Интеграция smsru, {operation}: "
                                   f"{answer.get('status_text') or status_text(answer.get('status_code'))}")
        return answer

    def deliver_many(self, messages: list[OutgoingMessage]) -> list[Delivery | IntegrationError]:
        out: list[Delivery | IntegrationError | None] = [None] * len(messages)
        with self._client() as client:
            for group in self._requests(messages):
                data: dict[str, Any] = {f"to[{sms_phone(messages[i].to)}]": messages[i].text for i in group}
                if self.setting("sender"):
                    data["from"] = self.setting("sender")
                answer = self._call(client, "/sms/send", "send", data)
                entries = answer.get("sms") or {}
                for i in group:
                    phone = sms_phone(messages[i].to)
                    entry = entries.get(phone)
                    if entry is None:
                        out[i] = IntegrationError(f"Интеграция smsru: нет ответа по номеру {mask(messages[i].to)}")
                    elif entry.get("status") == "OK" and entry.get("sms_id"):
                        delivery = Delivery(str(entry["sms_id"]), "accepted", status_text(entry.get("status_code")))
                        self.journal_sent(delivery, messages[i].to, messages[i].key)
                        out[i] = delivery
                    else:
                        code = entry.get("status_code")
                        error = IntegrationError(f"Интеграция smsru: {mask(messages[i].to)}: {status_text(code)}")
                        error.final = int(code or 0) in PERMANENT  # type: ignore[attr-defined]
                        out[i] = error
                self.flush_sent()
        return out  # type: ignore[return-value]

    def statuses(self, items: list[tuple[str, str]]) -> dict[str, Delivery]:
        """/sms/status for up to 100 sms_id at once → Delivery with the Russian status."""
        out: dict[str, Delivery] = {}
        ids = [mid for mid, _ in items]
        with self._client() as client:
            for start in range(0, len(ids), BATCH):
                answer = self._call(client, "/sms/status", "status", {"sms_id": ",".join(ids[start:start + BATCH])})
                for mid, entry in (answer.get("sms") or {}).items():
                    if entry.get("status") == "OK":
                        code = int(entry.get("status_code") or 0)
                        state = "delivered" if code in DELIVERED else "accepted" if code in IN_PROGRESS else "failed"
                        out[mid] = Delivery(mid, state, entry.get("status_text") or status_text(code))
        return out

    def status(self, message_id: str) -> Delivery:
        return self.statuses([(message_id, "")]).get(message_id) or self.recorded(message_id)

    def cost(self, messages: list[OutgoingMessage]) -> tuple[Decimal, int]:
        """The price of sending these (SMS.ru /sms/cost), and the number of SMS segments."""
        total, segments = Decimal(0), 0
        with self._client() as client:
            for group in self._requests(messages):
                answer = self._call(client, "/sms/cost", "cost",
                                    {f"to[{sms_phone(messages[i].to)}]": messages[i].text for i in group})
                total += Decimal(str(answer.get("total_cost") or 0))
                segments += int(answer.get("total_sms") or 0)
        return total, segments

    def check(self) -> str:
        with self._client() as client:
            answer = self._call(client, "/my/balance", "balance", {})
        return f"баланс {answer.get('balance')} ₽"
