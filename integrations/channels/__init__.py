"""Notification channels: e-mail (smtp), SMS (smsru, smsc), messengers (telegram, max).

The SMS providers share `SmsChannel`: phone numbers as digits, texts grouped into provider requests (at most
`batch_size` messages, one text per phone in a request), segment counting, and the encrypted phone kept beside
each message id for providers whose status call needs it.
"""

from __future__ import annotations

import re
from typing import ClassVar, Iterable

from ..base import Channel, Delivery, IntegrationError, OutgoingMessage
from ..http import HttpClient

# GSM 03.38 basic alphabet (and its extension, each counting twice): texts wholly in it go 160/153 per segment,
# anything else (Cyrillic) is UCS-2: 70 characters in one SMS, 67 per part of a longer one.
_GSM = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
           "¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXT = set("^{}\\[~]|€\f")


def sms_segments(text: str) -> int:
    """How many SMS a text takes: 70/67 characters for Cyrillic (UCS-2), 160/153 for the GSM alphabet."""
    if not text:
        return 0
    if all(c in _GSM or c in _GSM_EXT for c in text):
        length = sum(2 if c in _GSM_EXT else 1 for c in text)
        return 1 if length <= 160 else -(-length // 153)
    length = len(text.encode("utf-16-le")) // 2
    return 1 if length <= 70 else -(-length // 67)


def sms_phone(phone: str) -> str:
    """79161234567 from +7 916 123-45-67 (SMS services take digits only)."""
    return re.sub(r"\D", "", phone or "")


def sms_groups(messages: list[OutgoingMessage], size: int) -> list[list[int]]:
    """Indexes of messages per provider request: at most `size`, one text per phone in a request."""
    groups: list[list[int]] = []
    current: list[int] = []
    phones: set[str] = set()
    for i, m in enumerate(messages):
        phone = sms_phone(m.to)
        if len(current) == size or phone in phones:
            groups.append(current)
            current, phones = [], set()
        current.append(i)
        phones.add(phone)
    if current:
        groups.append(current)
    return groups


class SmsChannel(Channel):
    """What the SMS providers have in common; a provider implements deliver_many, statuses and cost."""

    address = "phone"
    batch_size = 100
    polls_status = True
    _transport = None            # tests may inject an httpx transport

    def _client(self) -> HttpClient:
        return HttpClient(self, base_url=self.setting("base_url"), transport=self._transport,
                          ca_file=self.setting("ca_file"))

    def _requests(self, messages: list[OutgoingMessage]) -> list[list[int]]:
        return sms_groups(messages, self.batch_size)

    def send(self, to: str, subject: str, text: str) -> Delivery:
        return self.deliver(OutgoingMessage("", to, subject, text))

    def deliver(self, message: OutgoingMessage) -> Delivery:
        result = self.deliver_many([message])[0]
        if isinstance(result, IntegrationError):
            raise result
        return result

    def segments(self, text: str) -> int:
        return sms_segments(text)
