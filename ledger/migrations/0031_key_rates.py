"""Seed the key-rate history from ledger/key_rates.csv (the Bank of Russia key rate, editable later)."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from importlib import resources

from ledger.db import utcnow


def migrate(con) -> None:
    text = resources.files("ledger").joinpath("key_rates.csv").read_text("utf-8")
    now = utcnow()
    for row in csv.DictReader(text.splitlines()):
        con.execute("INSERT INTO key_rates VALUES (?, ?, ?, 'поставка')",
                    [date.fromisoformat(row["valid_from"]), Decimal(row["rate"]), now])
