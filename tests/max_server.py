"""Local fake MAX Bot API written from https://dev.max.ru/docs-api: the token in the Authorization header (401
otherwise), POST /messages?user_id=… with {"text", "format"} answering {"message": {"body": {"mid", "text"}}},
GET /messages/{mid} (404 unknown), GET /updates with `bot_started` events carrying the deep-link payload, GET /me,
429 with Retry-After, 403 for a user who blocked the bot."""

from __future__ import annotations

import itertools
import json
import time
from urllib.parse import parse_qs

from tests.smtp_server import serve_wsgi

TOKEN = "max-bot-token-f00d"
BOT = "snt_rassvet_max_bot"


class FakeMax:
    def __init__(self):
        self.messages: dict[str, dict] = {}
        self.blocked: set[str] = set()
        self.updates: list[dict] = []
        self.update_requests: list[dict] = []
        self.throttle = 0
        self._mids = itertools.count(1)
        self.server, self.base_url = serve_wsgi(self.app)

    def stop(self):
        self.server.stop()

    def user_starts(self, user_id: int, payload: str) -> None:
        self.updates.append({"update_type": "bot_started", "timestamp": int(time.time() * 1000), "chat_id": user_id,
                             "user": {"user_id": user_id, "name": "Пётр"}, "payload": payload})

    def app(self, environ, start_response):
        status, headers, answer = self.answer(environ)
        start_response(status, [("Content-Type", "application/json"), *headers])
        return [json.dumps(answer, ensure_ascii=False).encode("utf-8")]

    def answer(self, environ):
        if environ.get("HTTP_AUTHORIZATION") != TOKEN:
            return "401 Unauthorized", [], {"code": "verify.token", "message": "Invalid access_token"}
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if method == "GET" and path == "/me":
            return "200 OK", [], {"user_id": 1, "name": "СНТ Рассвет", "username": BOT, "is_bot": True}
        if method == "GET" and path == "/updates":
            # the documentation: with `marker` the bot gets the updates it has not received yet, without it all
            # of them; the answer's `marker` points to the next page
            start = int(query["marker"]) if query.get("marker") else 0
            page = self.updates[start:start + int(query.get("limit") or 100)]
            self.update_requests.append(query)
            return "200 OK", [], {"updates": page, "marker": start + len(page)}
        if method == "GET" and path.startswith("/messages/"):
            mid = path.rpartition("/")[2]
            if mid not in self.messages:
                return "404 Not Found", [], {"code": "not.found", "message": "Message not found"}
            return "200 OK", [], self.messages[mid]
        if method == "POST" and path == "/messages":
            if self.throttle:
                self.throttle -= 1
                return "429 Too Many Requests", [("Retry-After", "1")], {"code": "too.many.requests",
                                                                         "message": "Too many requests"}
            user_id = query.get("user_id")
            body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)) or b"{}")
            if user_id in self.blocked:
                return "403 Forbidden", [], {"code": "chat.denied", "message": "Bot is blocked by the user"}
            if not body.get("text") or len(body["text"]) > 4000:
                return "400 Bad Request", [], {"code": "proto.payload", "message": "text: size must be 1..4000"}
            mid = f"mid.{next(self._mids):016x}"
            message = {"recipient": {"user_id": int(user_id)}, "timestamp": int(time.time() * 1000),
                       "body": {"mid": mid, "seq": 1, "text": body["text"]}}
            self.messages[mid] = message
            return "200 OK", [], {"message": message}
        return "404 Not Found", [], {"code": "not.found", "message": "Method not found"}
