"""The web server: Streamlit's app (app.py) plus two small routes that put the session cookie in the browser.

`make run` starts it (`streamlit run server.py`). A Streamlit script cannot set a cookie, so after sign-in the
page POSTs a one-time code (valid for a minute, see ui.grant) to /coop-session/open; the answer sets the
session token as an HttpOnly, SameSite=Strict cookie that page scripts cannot read. /coop-session/close
deletes it («Выйти» has already revoked the session in the ledger).
"""

from __future__ import annotations

import streamlit as st
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import ui


async def open_session(request: Request) -> Response:
    code = (await request.body()).decode("ascii", "replace")[:200]
    token = ui.redeem(code)
    if token is None:
        return Response("Код входа неверен или устарел", status_code=403, media_type="text/plain; charset=utf-8")
    response = Response(status_code=204)
    response.set_cookie(ui.COOKIE, token, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https", max_age=int(ui.cookie_max_age()))
    return response


async def close_session(request: Request) -> Response:
    response = Response(status_code=204)
    response.delete_cookie(ui.COOKIE, path="/", httponly=True, samesite="strict")
    return response


app = st.App("app.py", routes=[Route(ui.SESSION_ROUTE + "/open", open_session, methods=["POST"]),
                               Route(ui.SESSION_ROUTE + "/close", close_session, methods=["POST"])])
