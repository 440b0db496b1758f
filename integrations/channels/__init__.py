"""Notification channels: e-mail (smtp), SMS (smsru, smsc), messengers (telegram, max)."""

from __future__ import annotations

import re

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
