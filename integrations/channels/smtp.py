"""E-mail over SMTP (Channel): STARTTLS or implicit TLS, login, UTF-8 Russian subject and text."""

from __future__ import annotations

import base64
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import make_msgid

from ledger import fields
from ledger.db import utcnow
from ledger.members import mask

from ..base import Channel, Delivery, Field, IntegrationError
from ..http import insecure_allowed


def _login(server: smtplib.SMTP, user: str, password: str) -> None:
    """smtplib encodes credentials as ASCII; AUTH PLAIN is UTF-8 (RFC 4616), so Russian passwords go that way."""
    if (user + password).isascii():
        server.login(user, password)
        return
    server.ehlo_or_helo_if_needed()
    if "plain" not in server.esmtp_features.get("auth", "").lower().split():
        raise smtplib.SMTPAuthenticationError(504, b"AUTH PLAIN not offered")
    token = base64.b64encode(b"\0" + user.encode("utf-8") + b"\0" + password.encode("utf-8")).decode("ascii")
    code, resp = server.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, resp)


class SmtpChannel(Channel):
    name = "smtp"
    title = "Электронная почта (SMTP)"
    fields = (
        Field("host", "Сервер SMTP", required=True),
        Field("port", "Порт", "port", default=587),
        Field("tls", "Шифрование", "choice", default="starttls", choices=("none", "starttls", "ssl"),
              help="none — только для 127.0.0.1 при COOP_ALLOW_INSECURE_LOOPBACK=1"),
        Field("username", "Логин"),
        Field("password", "Пароль", secret=True),
        Field("sender", "Адрес отправителя", required=True),
        Field("ca_file", "Файл доверенного сертификата (CA)", "path",
              help="для своего почтового релея с собственным сертификатом"),
        Field("timeout", "Тайм-аут, с", "int", default=30, minimum=1, maximum=600),
        Field("admin_recipient", "Кому слать оповещения мониторинга"),
    )

    def _connect(self) -> smtplib.SMTP:
        host, port, tls = self.setting("host"), int(self.setting("port")), self.setting("tls")
        timeout = int(self.setting("timeout"))
        context = ssl.create_default_context(cafile=self.setting("ca_file"))
        if tls == "none" and not insecure_allowed(host):
            raise IntegrationError(f"Интеграция smtp: соединение без шифрования с {host} запрещено; "
                                   f"выберите tls=starttls или tls=ssl")
        if tls == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
            if tls == "starttls":
                server.starttls(context=context)
        if self.setting("username"):
            try:
                _login(server, self.setting("username"), self.setting("password") or "")
            except BaseException:
                server.close()
                raise
        return server

    def send(self, to: str, subject: str, text: str) -> Delivery:
        try:
            address = fields.emails(to)
        except ValueError as exc:
            raise IntegrationError(f"Интеграция smtp: {exc}") from None
        if not address or "," in address:
            raise IntegrationError("Интеграция smtp: укажите один адрес получателя")
        msg = EmailMessage()
        msg["From"] = self.setting("sender")
        msg["To"] = to
        msg["Subject"] = subject
        domain = str(self.setting("sender")).rpartition("@")[2] or None
        msg["Message-ID"] = make_msgid(idstring=uuid.uuid4().hex[:12], domain=domain)
        msg.set_content(text, charset="utf-8")
        data = msg.as_bytes()
        with self.audited("send", host=self.setting("host")) as call:
            call.nbytes = len(data)
            try:
                with self._connect() as server:
                    refused = server.send_message(msg)
                    call.status = 250
            except smtplib.SMTPAuthenticationError as exc:
                call.status = exc.smtp_code
                raise IntegrationError("Интеграция smtp: сервер не принял логин или пароль") from None
            except smtplib.SMTPRecipientsRefused as exc:
                call.status = 550
                raise IntegrationError(f"Интеграция smtp: сервер отклонил адрес получателя {mask(to)}") from None
            except smtplib.SMTPResponseException as exc:
                call.status = exc.smtp_code
                raise IntegrationError(f"Интеграция smtp: сервер ответил {exc.smtp_code}") from None
            except ssl.SSLError as exc:
                raise IntegrationError(f"Интеграция smtp: ошибка TLS ({exc.reason or exc})") from None
            except OSError as exc:
                raise IntegrationError(f"Интеграция smtp: нет соединения с {self.setting('host')}:"
                                       f"{self.setting('port')} ({exc.strerror or type(exc).__name__})") from None
            if refused:
                raise IntegrationError(f"Интеграция smtp: сервер отклонил адрес получателя {mask(to)}")
        delivery = Delivery(msg["Message-ID"], "accepted", "принято почтовым сервером")
        with self.ctx.db.transaction() as con:
            con.execute("INSERT INTO channel_messages VALUES (?, ?, ?, ?, ?, ?)",
                        [delivery.message_id, self.name, mask(to), delivery.status, delivery.detail, utcnow()])
        return delivery

    def status(self, message_id: str) -> Delivery:
        row = self.ctx.db.fetchone("SELECT status, detail FROM channel_messages WHERE message_id = ? AND integration = ?",
                                   [message_id, self.name])
        if row is None:
            raise IntegrationError(f"Интеграция smtp: сообщение {message_id} не отправлялось")
        return Delivery(message_id, row[0], row[1] or "")

    def check(self) -> str:
        with self.audited("check", host=self.setting("host")) as call:
            try:
                with self._connect() as server:
                    call.status = server.noop()[0]
            except smtplib.SMTPAuthenticationError:
                raise IntegrationError("Интеграция smtp: сервер не принял логин или пароль") from None
            except (OSError, smtplib.SMTPException) as exc:
                raise IntegrationError(f"Интеграция smtp: нет соединения ({type(exc).__name__})") from None
        return "соединение и вход успешны"
