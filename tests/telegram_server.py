"""Local fake Telegram Bot API written from https://core.telegram.org/bots/api: /bot<token>/<method>, JSON
answers {"ok": true, "result": …} or {"ok": false, "error_code", "description", "parameters": {"retry_after"}},
401 for a wrong token, 403 for a chat that blocked the bot, 400 «chat not found», 429 with retry_after;
getUpdates with offset (updates below it are forgotten), getMe."""

from __future__ import annotations

import itertools
import json
import threading
import time

from tests.smtp_server import serve_wsgi

TOKEN = "123456:AAE-fake-telegram-token"
BOT = "snt_rassvet_bot"


class FakeTelegram:
    def __init__(self):
        self.messages: list[dict] = []          # {chat_id, text, at}
        self.blocked: set[str] = set()
        self.known: set[str] = set()            # chats that exist
        self.updates: list[dict] = []
        self.throttle = 0                       # answer 429 (retry_after 1) to this many sendMessage calls
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1000)
        self._lock = threading.Lock()
        self.server, self.base_url = serve_wsgi(self.app)

    def stop(self):
        self.server.stop()

    def user_starts(self, chat_id: str, payload: str) -> None:
        """A user opened t.me/<bot>?start=<payload> and pressed Start: the bot gets "/start <payload>"."""
        self.known.add(chat_id)
        self.updates.append({"update_id": next(self._update_ids), "message": {
            "message_id": next(self._ids), "date": int(time.time()), "text": f"/start {payload}",
            "from": {"id": int(chat_id), "is_bot": False, "first_name": "Пётр"},
            "chat": {"id": int(chat_id), "type": "private", "first_name": "Пётр"}}})

    def app(self, environ, start_response):
        path = environ["PATH_INFO"]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        params = json.loads(body) if body else {}
        status, answer = self.answer(path, params)
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(answer, ensure_ascii=False).encode("utf-8")]

    @staticmethod
    def error(code: int, text: str, **parameters):
        answer = {"ok": False, "error_code": code, "description": text}
        if parameters:
            answer["parameters"] = parameters
        return f"{code} {text.split(':')[0]}", answer

    def answer(self, path: str, params: dict):
        prefix, _, method = path.rpartition("/")
        if prefix != f"/bot{TOKEN}":
            return self.error(401, "Unauthorized")
        with self._lock:
            if method == "getMe":
                return "200 OK", {"ok": True, "result": {"id": 123456, "is_bot": True, "username": BOT}}
            if method == "getUpdates":
                offset = params.get("offset")
                if offset is not None:
                    self.updates = [u for u in self.updates if u["update_id"] >= offset]
                return "200 OK", {"ok": True, "result": list(self.updates)}
            if method == "sendMessage":
                if self.throttle:
                    self.throttle -= 1
                    return self.error(429, "Too Many Requests: retry after 1", retry_after=1)
                chat = str(params.get("chat_id"))
                if not params.get("text"):
                    return self.error(400, "Bad Request: message text is empty")
                if chat in self.blocked:
                    return self.error(403, "Forbidden: bot was blocked by the user")
                if chat not in self.known:
                    return self.error(400, "Bad Request: chat not found")
                message_id = next(self._ids)
                self.messages.append({"chat_id": chat, "text": params["text"], "at": time.monotonic()})
                return "200 OK", {"ok": True, "result": {"message_id": message_id, "date": int(time.time()),
                                                         "chat": {"id": int(chat), "type": "private"},
                                                         "text": params["text"]}}
        return self.error(404, "Not Found")
