"""E-mail over SMTP (Channel): STARTTLS or implicit TLS, login, UTF-8 Russian subject and text; notifications with an
HTML part, attachments, List-Unsubscribe and a Message-ID made from the outbox key; one connection per batch."""

from __future__ import annotations

import base64
import hashlib
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import make_msgid

from ledger import fields
from ledger.members import mask

from ..base import Channel, Delivery, Field, IntegrationError, OutgoingMessage
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


def _quit(server: smtplib.SMTP) -> None:
    try:
        server.quit()
    except (OSError, smtplib.SMTPException):
        server.close()


class SmtpChannel(Channel):
    name = "smtp"
    title = "Электронная почта (SMTP)"
    batch_size = 50
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

    def open(self) -> None:
        """Keep one connection for a batch of messages (closed by close() or after an error)."""
        self._server = None
        self._batch = True

    def close(self) -> None:
        server, self._server, self._batch = getattr(self, "_server", None), None, False
        if server is not None:
            _quit(server)

    def message_id(self, key: str) -> str:
        """The same notification always gets the same Message-ID (so a resend after a crash is recognisable)."""
        domain = str(self.setting("sender")).rpartition("@")[2] or "coop-ledger.local"
        return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}.notify@{domain}>"

    def send(self, to: str, subject: str, text: str) -> Delivery:
        domain = str(self.setting("sender")).rpartition("@")[2] or None
        return self._send(OutgoingMessage("", to, subject, text), make_msgid(idstring=uuid.uuid4().hex[:12], domain=domain))

    def deliver(self, message: OutgoingMessage) -> Delivery:
        return self._send(message, self.message_id(message.key))

    def build(self, message: OutgoingMessage, message_id: str) -> EmailMessage:
        """The e-mail: plain text, an HTML alternative if given, attachments, List-Unsubscribe."""
        try:
            address = fields.emails(message.to)
        except ValueError as exc:
            raise IntegrationError(f"Интеграция smtp: {exc}") from None
        if not address or "," in address:
            raise IntegrationError("Интеграция smtp: укажите один адрес получателя")
        msg = EmailMessage()
        msg["From"] = self.setting("sender")
        msg["To"] = address
        msg["Subject"] = message.subject
        msg["Message-ID"] = message_id
        if message.unsubscribe:
            msg["List-Unsubscribe"] = f"<{message.unsubscribe}>"
            if message.unsubscribe.startswith("https://"):
                msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.set_content(message.text, charset="utf-8")
        if message.html:
            msg.add_alternative(message.html, subtype="html", charset="utf-8")
        for a in message.attachments:
            maintype, _, subtype = a.mime.partition("/")
            msg.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.name)
        return msg

    def _server_for_send(self) -> smtplib.SMTP:
        if getattr(self, "_batch", False):
            if self._server is None:
                self._server = self._connect()
            return self._server
        return self._connect()

    def _transmit(self, msg: EmailMessage, to: str, call) -> None:
        batch = getattr(self, "_batch", False)
        try:
            server = self._server_for_send()
            try:
                refused = server.send_message(msg)
                call.status = 250
            finally:
                if not batch:
                    _quit(server)
        except smtplib.SMTPServerDisconnected:
            self._server = None
            raise IntegrationError(f"Интеграция smtp: сервер {self.setting('host')} разорвал соединение") from None
        except smtplib.SMTPAuthenticationError as exc:
            call.status = exc.smtp_code
            raise IntegrationError("Интеграция smtp: сервер не принял логин или пароль") from None
        except smtplib.SMTPRecipientsRefused:
            call.status = 550
            raise IntegrationError(f"Интеграция smtp: сервер отклонил адрес получателя {mask(to)}") from None
        except smtplib.SMTPResponseException as exc:
            call.status = exc.smtp_code
            raise IntegrationError(f"Интеграция smtp: сервер ответил {exc.smtp_code}") from None
        except ssl.SSLError as exc:
            self._server = None
            raise IntegrationError(f"Интеграция smtp: ошибка TLS ({exc.reason or exc})") from None
        except OSError as exc:
            self._server = None
            raise IntegrationError(f"Интеграция smtp: нет соединения с {self.setting('host')}:"
                                   f"{self.setting('port')} ({exc.strerror or type(exc).__name__})") from None
        if refused:
            raise IntegrationError(f"Интеграция smtp: сервер отклонил адрес получателя {mask(to)}")

    def _send(self, message: OutgoingMessage, message_id: str) -> Delivery:
        msg = self.build(message, message_id)
        with self.audited("send", host=self.setting("host")) as call:
            call.nbytes = len(msg.as_bytes())
            self._transmit(msg, message.to, call)
        delivery = Delivery(message_id, "accepted", "принято почтовым сервером")
        self.record(delivery, message.to, message.key)
        return delivery

    def deliver_many(self, messages: list[OutgoingMessage]) -> list[Delivery | IntegrationError]:
        """A batch over the open connection, one audit entry for it; each accepted message is journaled at once
        (so a crash in the middle of the batch never leads to a resend) and recorded with the batch."""
        out: list[Delivery | IntegrationError] = []
        with self.audited("send", host=self.setting("host")) as call:
            for m in messages:
                try:
                    message_id = self.message_id(m.key)
                    self._transmit(self.build(m, message_id), m.to, call)
                except IntegrationError as exc:
                    out.append(exc)
                    continue
                delivery = Delivery(message_id, "accepted", "принято почтовым сервером")
                self.journal_sent(delivery, m.to, m.key)
                out.append(delivery)
            self.flush_sent()
            call.details = {"messages": len(messages), "failed": sum(isinstance(o, Exception) for o in out)}
        return out

    def status(self, message_id: str) -> Delivery:
        return self.recorded(message_id)    # SMTP has no status call: what the server said when it took it

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
