"""MAX messenger Bot API (Channel): https://dev.max.ru/docs-api — POST /messages?user_id=… with the header
`Authorization: <token>`, text up to 4000 characters (markdown); GET /messages/{mid} is the status call;
GET /updates gives `bot_started` events whose payload is the member's deep-link token. The address is
platform-api2.max.ru, whose certificate is issued by the Russian Trusted Root CA (Минцифры): give its file as
ca_file. At most two messages a second per dialog."""

from __future__ import annotations

import time

from ledger import notify

from ..base import Channel, Delivery, Field, IntegrationError, OutgoingMessage
from ..http import HttpClient

MAX_TEXT = 4000
PER_DIALOG_SECONDS = 0.5
MAX_WAIT = 60.0
UPDATE_LIMIT = 100        # updates per GET /updates (the API allows 1–1000)
UPDATE_PAGES = 20         # at most this many pages a run


class MaxChannel(Channel):
    name = "max"
    title = "MAX (бот)"
    address = "max"
    fields = (
        Field("token", "Токен бота", secret=True, required=True),
        Field("bot_name", "Имя бота (для ссылки max.ru/<имя>)", required=True),
        Field("base_url", "Адрес API", "url", default="https://platform-api2.max.ru"),
        Field("ca_file", "Сертификат Russian Trusted Root CA (Минцифры)", "path",
              help="файл .crt/.pem корневого сертификата Минцифры: без него platform-api2.max.ru не проверить"),
    )

    def __init__(self, settings, ctx):
        super().__init__(settings, ctx)
        self._last: dict[str, float] = {}

    def _call(self, method: str, path: str, operation: str, **kw) -> dict:
        with HttpClient(self, base_url=self.setting("base_url"), ca_file=self.setting("ca_file")) as client:
            for _ in range(3):
                response = client.request(method, path, operation=operation, raise_for_status=False, bearer=False,
                                          headers={"Authorization": self.setting("token")}, **kw)
                if response.status_code == 429:
                    wait = float(response.headers.get("Retry-After") or 1)
                    if wait > MAX_WAIT:
                        raise IntegrationError(f"Интеграция max: сервис просит подождать {wait:.0f} с")
                    time.sleep(wait)
                    continue
                break
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code >= 400:
            reason = {401: "токен бота не принят", 403: "нет подписки (участник не запускал бота или заблокировал его)",
                      404: "не найдено", 429: "сервис не принимает сообщения (429)"}.get(response.status_code)
            error = IntegrationError(f"Интеграция max, {operation}: {reason or answer.get('message') or response.status_code}")
            error.final = response.status_code in (400, 403, 404)  # type: ignore[attr-defined]
            raise error
        return answer

    def send(self, to: str, subject: str, text: str) -> Delivery:
        return self.deliver(OutgoingMessage("", to, subject, text))

    def deliver(self, message: OutgoingMessage) -> Delivery:
        user_id = str(message.to).strip()
        if not user_id:
            raise IntegrationError("Интеграция max: у участника нет привязанного чата")
        wait = PER_DIALOG_SECONDS - (time.monotonic() - self._last.get(user_id, -1e9))
        if wait > 0:
            time.sleep(wait)
        answer = self._call("POST", "/messages", "send", params={"user_id": user_id},
                            json={"text": message.text[:MAX_TEXT], "format": "markdown"})
        self._last[user_id] = time.monotonic()
        mid = ((answer.get("message") or {}).get("body") or {}).get("mid")
        if not mid:
            raise IntegrationError("Интеграция max: в ответе нет идентификатора сообщения")
        delivery = Delivery(str(mid), "delivered", "доставлено в чат")
        self.record(delivery, user_id, message.key)
        return delivery

    def status(self, message_id: str) -> Delivery:
        self._call("GET", f"/messages/{message_id}", "status")
        return Delivery(message_id, "delivered", "сообщение есть в чате")

    def link(self, member_id: int) -> str:
        return notify.deep_link(self.name, self.setting("bot_name"), notify.link_token(self.ctx.db, member_id, self.name))

    def bind_chats(self) -> int:
        """Read the bot's `bot_started` updates from the stored marker on (GET /updates returns the marker to pass
        next time), bind each token's member, and keep the new marker: no update is read twice or lost."""
        bound = 0
        for _ in range(UPDATE_PAGES):
            marker = notify.bot_cursor(self.ctx.db, self.name)
            params = {"types": "bot_started", "timeout": 0, "limit": UPDATE_LIMIT}
            if marker:
                params["marker"] = marker
            answer = self._call("GET", "/updates", "updates", params=params)
            updates = answer.get("updates") or []
            for update in updates:
                if update.get("update_type") == "bot_started" and update.get("payload"):
                    user_id = (update.get("user") or {}).get("user_id")
                    if user_id and notify.bind_chat(self.ctx.db, str(update["payload"]), self.name, str(user_id),
                                                    actor=self.ctx.actor):
                        bound += 1
            if answer.get("marker") is not None and str(answer["marker"]) != str(marker):
                notify.save_bot_cursor(self.ctx.db, self.name, str(answer["marker"]), self.ctx.actor)
            if len(updates) < UPDATE_LIMIT:
                break
        return bound

    def check(self) -> str:
        answer = self._call("GET", "/me", "check")
        return f"бот {answer.get('username') or answer.get('name') or ''}".strip()
