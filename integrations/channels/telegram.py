"""Telegram Bot API (Channel): sendMessage to the member's chat, getUpdates to bind chats by deep link.

https://core.telegram.org/bots/api — every answer is JSON {"ok": true, "result": …} or {"ok": false,
"error_code": …, "description": …, "parameters": {"retry_after": N}}. 429 asks to wait retry_after seconds;
403 means the member blocked the bot or never started it («нет подписки»). Limits (Bot FAQ): about 30 messages
a second overall and one a second per chat — kept by a small limiter here.
"""

from __future__ import annotations

import time
from collections import deque

from ledger import notify
from ledger.errors import LedgerError

from ..base import Channel, Delivery, Field, IntegrationError, OutgoingMessage
from ..http import HttpClient

PER_SECOND = 30
PER_CHAT_SECONDS = 1.0
MAX_WAIT = 60.0


class TelegramChannel(Channel):
    name = "telegram"
    title = "Telegram (бот)"
    address = "telegram"
    fields = (
        Field("token", "Токен бота", secret=True, required=True),
        Field("bot_name", "Имя бота (для ссылки t.me/<имя>)", required=True),
        Field("base_url", "Адрес Bot API", "url", default="https://api.telegram.org"),
        Field("ca_file", "Файл доверенного сертификата (CA)", "path"),
    )

    def __init__(self, settings, ctx):
        super().__init__(settings, ctx)
        self._sent: deque[float] = deque()
        self._per_chat: dict[str, float] = {}
        self._http: HttpClient | None = None

    def _client(self) -> HttpClient:
        if self._http is None:
            self._http = HttpClient(self, base_url=self.setting("base_url"), ca_file=self.setting("ca_file"))
        return self._http

    def open(self) -> None:
        self._client()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _api(self, method: str, payload: dict) -> dict:
        """One Bot API call; a 429 is waited out (retry_after) and tried again."""
        for _ in range(3):
            response = self._client().post(f"/bot{self.setting('token')}/{method}", operation=method, json=payload,
                                           raise_for_status=False)
            try:
                answer = response.json()
            except ValueError:
                raise IntegrationError(f"Интеграция telegram, {method}: сервер ответил {response.status_code}") from None
            if answer.get("ok"):
                return answer
            code = answer.get("error_code") or response.status_code
            if code == 429:
                wait = float((answer.get("parameters") or {}).get("retry_after") or 1)
                if wait > MAX_WAIT:
                    raise IntegrationError(f"Интеграция telegram: сервис просит подождать {wait:.0f} с")
                time.sleep(wait)
                continue
            error = IntegrationError("Интеграция telegram: нет подписки (участник не запускал бота или заблокировал его)"
                                     if code == 403 else
                                     f"Интеграция telegram, {method}: {answer.get('description') or code}")
            error.final = code in (400, 403)  # type: ignore[attr-defined]
            raise error
        raise IntegrationError(f"Интеграция telegram, {method}: сервис не принимает сообщения (429)")

    def _pace(self, chat_id: str) -> None:
        now = time.monotonic()
        while self._sent and now - self._sent[0] >= 1.0:
            self._sent.popleft()
        waits = [0.0]
        if len(self._sent) >= PER_SECOND:
            waits.append(1.0 - (now - self._sent[0]))
        last = self._per_chat.get(chat_id)
        if last is not None:
            waits.append(PER_CHAT_SECONDS - (now - last))
        if max(waits) > 0:
            time.sleep(max(waits))
        stamp = time.monotonic()
        self._sent.append(stamp)
        self._per_chat[chat_id] = stamp

    def send(self, to: str, subject: str, text: str) -> Delivery:
        return self.deliver(OutgoingMessage("", to, subject, text))

    def deliver(self, message: OutgoingMessage) -> Delivery:
        chat_id = str(message.to).strip()
        if not chat_id:
            raise IntegrationError("Интеграция telegram: у участника нет привязанного чата")
        self._pace(chat_id)
        answer = self._api("sendMessage", {"chat_id": chat_id, "text": message.text[:4096]})
        delivery = Delivery(f"{chat_id}:{answer['result']['message_id']}", "delivered", "доставлено в чат")
        self.record(delivery, chat_id, message.key)
        return delivery

    def status(self, message_id: str) -> Delivery:
        return self.recorded(message_id)       # the Bot API has no status call: sendMessage's answer is final

    def link(self, member_id: int) -> str:
        """The member's personal deep link: opening it and pressing Start binds the chat."""
        return notify.deep_link(self.name, self.setting("bot_name"), notify.link_token(self.ctx.db, member_id, self.name))

    def bind_chats(self) -> int:
        """Read the bot's updates; every `/start <token>` binds its chat to the token's member. Returns the number."""
        offset = notify.bot_cursor(self.ctx.db, self.name)
        answer = self._api("getUpdates", {"offset": int(offset) if offset else None, "timeout": 0,
                                          "allowed_updates": ["message"]})
        bound, last = 0, None
        for update in answer.get("result") or []:
            last = update["update_id"]
            msg = update.get("message") or {}
            text = (msg.get("text") or "").strip()
            if text.startswith("/start ") and (msg.get("chat") or {}).get("type") == "private":
                try:
                    if notify.bind_chat(self.ctx.db, text.split(None, 1)[1].strip(), self.name,
                                        str(msg["chat"]["id"]), actor=self.ctx.actor):
                        bound += 1
                except LedgerError:
                    continue
        if last is not None:
            notify.save_bot_cursor(self.ctx.db, self.name, str(last + 1), self.ctx.actor)
        return bound

    def check(self) -> str:
        answer = self._api("getMe", {})
        return f"бот @{answer['result'].get('username')}"
