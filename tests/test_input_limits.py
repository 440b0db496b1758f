"""Oversized input is refused at once with a Russian message and exit 1, from the command line (issue 12, item 11)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

LINE = "строка 1: строка длиннее 64 КБ — это не таблица (проверьте, что выбран нужный файл)"


def coop(db_path, *args):
    return subprocess.run([sys.executable, "-m", "ledger.cli", "--db", str(db_path), *args],
                          capture_output=True, text=True)


@pytest.mark.parametrize("command", [("members", "import"), ("bank", "import")])
def test_fifty_megabyte_one_line_csv_is_refused_at_once(db, db_path, tmp_path, command):
    big = tmp_path / "one-line.csv"
    big.write_bytes(b"x;" * (25 * 1024 * 1024))
    started = time.monotonic()
    result = coop(db_path, *command, str(big))
    assert time.monotonic() - started < 60   # was 141 s and 2.2 GB
    assert result.returncode == 1, result.stderr
    assert f"one-line.csv, {LINE}" in result.stderr and "Traceback" not in result.stderr


def test_a_long_line_further_down_names_its_line(tmp_path):
    from ledger.errors import InputError
    from ledger.spreadsheets import read_sheet

    data = "№ л/с;ФИО\n1;Иванов\n".encode() + b"2;" + b"x" * (70 * 1024) + b"\n"
    with pytest.raises(InputError, match="^r.csv, строка 3: строка длиннее 64 КБ"):
        read_sheet(data, "r.csv")
    read_sheet("№ л/с;ФИО\n".encode() + b"1;" + "Я".encode() * 30_000 + b"\n", "r.csv")  # 60 KB: read
