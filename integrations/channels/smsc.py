"""SMS through SMSC.ru (Channel): https://smsc.ru/api/http/ — send.php, status.php, balance.php with fmt=3 (JSON)
and charset=utf-8.

One request carries up to 100 texts: `list=<phone>:<text>` lines (a text's line breaks written as «\\n»), or
`phones` + `mes` for one. `op=1` asks for a line per phone (its error, if any); `cost=1` prices a send without
sending it. The answer is {"id", "cnt", "phones": […]} or {"error", "error_code"[, "id"]}. A message's state is
asked by (phone, id) from status.php: {"status", "err", "last_date", …}; the phone is kept encrypted beside the id.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from ledger.members import mask

from ..base import Delivery, Field, IntegrationError, OutgoingMessage
from ..http import HttpClient
from . import SmsChannel, sms_phone

# error_code of send.php / status.php / balance.php (the documentation's list)
ERRORS = {
    1: "ошибка в параметрах запроса", 2: "неверный логин или пароль SMSC.ru",
    3: "не хватает средств на счёте SMSC.ru", 4: "IP-адрес временно заблокирован из-за частых ошибок в запросах",
    5: "неверный формат даты", 6: "сообщение запрещено (по тексту или по имени отправителя)",
    7: "неверный формат номера телефона", 8: "сообщение на этот номер не может быть доставлено",
    9: "слишком много одинаковых или одновременных запросов, повторите позже",
}
PERMANENT = {6, 7, 8}            # retrying the same text to the same number will not help
# status of status.php
STATUSES = {
    -3: "сообщение не найдено", -2: "рассылка остановлена", -1: "ожидает отправки", 0: "передано оператору",
    1: "доставлено", 2: "прочитано", 3: "не доставлено: истёк срок жизни", 4: "доставлено, получатель открыл ссылку",
    20: "не доставлено: невозможно доставить", 22: "не доставлено: неверный номер",
    23: "не доставлено: запрещено", 24: "не доставлено: не хватает средств на счёте",
    25: "не доставлено: номер недоступен",
}
DELIVERED = {1, 2, 4}
IN_PROGRESS = {-2, -1, 0}
# err of status.php: why a message was not delivered
REASONS = {
    1: "абонент не существует", 6: "абонент не в сети", 11: "нет услуги SMS", 12: "ошибка в телефоне абонента",
    13: "абонент заблокирован", 21: "нет поддержки SMS", 200: "виртуальная отправка",
    220: "переполнена очередь у оператора", 240: "абонент занят", 243: "не заключён договор",
    244: "рассылки запрещены", 245: "статус не получен", 246: "ограничение по времени",
    247: "превышен лимит сообщений", 248: "нет маршрута", 249: "неверный формат номера",
    250: "номер запрещён настройками", 251: "превышен лимит на один номер", 252: "номер запрещён",
    253: "запрещено спам-фильтром", 254: "незарегистрированный sender id", 255: "отклонено оператором",
}


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def error_text(code: Any) -> str:
    n = _int(code)
    return ERRORS.get(n, f"ошибка {code}") if n is not None else str(code)


def status_delivery(message_id: str, entry: dict) -> Delivery:
    """A status.php entry as a Delivery with its Russian reason."""
    code = _int(entry.get("status"))
    text = STATUSES.get(code, f"статус {entry.get('status')}")
    err = _int(entry.get("err"))
    if err and code not in DELIVERED:
        text += f" ({REASONS.get(err, f'код {err}')})"
    state = "delivered" if code in DELIVERED else "accepted" if code in IN_PROGRESS or code == -3 else "failed"
    return Delivery(message_id, state, text)


class SmscChannel(SmsChannel):
    name = "smsc"
    title = "SMS через SMSC.ru"
    keeps_address = True         # status.php needs the phone with the id
    fields = (
        Field("login", "Логин SMSC.ru"),
        Field("psw", "Пароль SMSC.ru", secret=True),
        Field("apikey", "API-ключ (вместо логина и пароля)", secret=True),
        Field("sender", "Имя отправителя (Sender ID)"),
        Field("base_url", "Адрес API", "url", default="https://smsc.ru"),
        Field("ca_file", "Файл доверенного сертификата (CA)", "path"),
    )

    def _auth(self) -> dict[str, str]:
        if self.setting("apikey"):
            return {"apikey": self.setting("apikey")}
        if self.setting("login") and self.setting("psw"):
            return {"login": self.setting("login"), "psw": self.setting("psw")}
        raise IntegrationError("Интеграция smsc: не заданы логин и пароль (login, psw) или API-ключ (apikey); "
                               "coop integrations configure smsc login=… psw=@-")

    def _call(self, client: HttpClient, path: str, operation: str, data: dict) -> Any:
        response = client.post(path, operation=operation, retry_safe=operation != "send",
                               data={**self._auth(), "fmt": 3, "charset": "utf-8", **data})
        try:
            answer = response.json()
        except ValueError:
            raise IntegrationError(f"Интеграция smsc, {operation}: ответ не в формате JSON") from None
        if isinstance(answer, dict) and "error_code" in answer:
            code = _int(answer["error_code"])
            if operation == "send" and code in PERMANENT:
                return answer                # the number or the text refused: deliver_many names each message
            error = IntegrationError(f"Интеграция smsc, {operation}: {error_text(code)}")
            error.final = code in PERMANENT  # type: ignore[attr-defined]
            error.code = code                # type: ignore[attr-defined]
            raise error
        return answer

    @staticmethod
    def _payload(messages: list[OutgoingMessage], group: list[int]) -> dict[str, str]:
        if len(group) == 1:
            m = messages[group[0]]
            return {"phones": sms_phone(m.to), "mes": m.text}
        # one «phone:text» line per message; a line break inside a text is written as the two characters \n
        lines = (f"{sms_phone(messages[i].to)}:" + messages[i].text.replace("\r", "").replace("\n", "\\n")
                 for i in group)
        return {"list": "\n".join(lines)}

    def deliver_many(self, messages: list[OutgoingMessage]) -> list[Delivery | IntegrationError]:
        out: list[Delivery | IntegrationError | None] = [None] * len(messages)
        for i, m in enumerate(messages):
            if len(sms_phone(m.to)) < 10:
                out[i] = error = IntegrationError(f"Интеграция smsc: {mask(m.to)}: {ERRORS[7]}")
                error.final = True  # type: ignore[attr-defined]
        todo = [i for i in range(len(messages)) if out[i] is None]
        with self._client() as client:
            for indexes in self._requests([messages[i] for i in todo]):
                group = [todo[k] for k in indexes]
                data = {**self._payload(messages, group), "op": 1}
                if self.setting("sender"):
                    data["sender"] = self.setting("sender")
                try:
                    answer = self._call(client, "/sys/send.php", "send", data)
                except IntegrationError as exc:
                    for i in group:
                        error = IntegrationError(f"{exc} ({mask(messages[i].to)})" if len(group) == 1 else str(exc))
                        error.final = getattr(exc, "final", False)  # type: ignore[attr-defined]
                        out[i] = error
                    continue
                request_id = answer.get("id")
                rejected = {sms_phone(str(p.get("phone"))): p.get("error")
                            for p in answer.get("phones") or [] if p.get("error") not in (None, "", "0", 0)}
                if answer.get("error_code"):          # 6/7/8 with an id: the whole request's one number refused
                    rejected = {sms_phone(messages[i].to): answer["error_code"] for i in group}
                for n, i in enumerate(group):
                    phone = sms_phone(messages[i].to)
                    if phone in rejected:
                        code = rejected[phone]
                        error = IntegrationError(f"Интеграция smsc: {mask(messages[i].to)}: {error_text(code)}")
                        error.final = _int(code) in PERMANENT or _int(code) is None  # type: ignore[attr-defined]
                        out[i] = error
                    elif not request_id:
                        out[i] = IntegrationError("Интеграция smsc: в ответе нет идентификатора сообщения")
                    else:
                        delivery = Delivery(f"{request_id}.{n}", "accepted", STATUSES[-1])
                        self.journal_sent(delivery, messages[i].to, messages[i].key)
                        out[i] = delivery
                self.flush_sent()
        return out  # type: ignore[return-value]

    def statuses(self, items: list[tuple[str, str]]) -> dict[str, Delivery]:
        """status.php for several messages at once: (message id, phone) → Delivery."""
        out: dict[str, Delivery] = {}
        with self._client() as client:
            for start in range(0, len(items), self.batch_size):
                chunk = [(mid, sms_phone(phone)) for mid, phone in items[start:start + self.batch_size] if phone]
                if not chunk:
                    continue
                # the documentation: a trailing comma keeps the list form for one message
                answer = self._call(client, "/sys/status.php", "status", {
                    "phone": ",".join(p for _, p in chunk) + ",", "id": ",".join(m.split(".")[0] for m, _ in chunk) + ","})
                entries = answer if isinstance(answer, list) else [answer]
                by_key = {(sms_phone(str(e.get("phone", ""))), str(e.get("id"))): e for e in entries
                          if isinstance(e, dict)}
                for mid, phone in chunk:
                    entry = by_key.get((phone, mid.split(".")[0]))
                    if entry is not None and "status" in entry:
                        out[mid] = status_delivery(mid, entry)
        return out

    def status(self, message_id: str) -> Delivery:
        phone = self.address_of(message_id)
        if phone is None:
            return self.recorded(message_id)
        found = self.statuses([(message_id, phone)])
        return found.get(message_id) or self.recorded(message_id)

    def cost(self, messages: list[OutgoingMessage]) -> tuple[Decimal, int]:
        """The price of sending these (send.php with cost=1: nothing is sent), and the number of SMS."""
        total, count = Decimal(0), 0
        with self._client() as client:
            for group in self._requests(messages):
                answer = self._call(client, "/sys/send.php", "cost", {**self._payload(messages, group), "cost": 1})
                try:
                    total += Decimal(str(answer.get("cost") or 0))
                except InvalidOperation:
                    raise IntegrationError("Интеграция smsc, cost: в ответе неверная стоимость") from None
                count += _int(answer.get("cnt")) or 0
        return total, count

    def check(self) -> str:
        with self._client() as client:
            answer = self._call(client, "/sys/balance.php", "balance", {})
        return f"баланс {answer.get('balance')} {answer.get('currency') or '₽'}".replace("RUR", "₽").replace("RUB", "₽")
