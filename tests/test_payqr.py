"""Payment QR codes (ГОСТ Р 56042-2014): the string field by field, the image decoded back, the квитанции PDF."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pypdf
import pytest
import zxingcpp
from PIL import Image

from ledger import cooperative, payqr
from ledger.errors import InputError

REQ = payqr.Requisites(name="СНТ «Рассвет»", account="40703810040000012345", bank_name="ПАО Сбербанк",
                       bik="044525225", corr_account="30101810400000000225", inn="5007012345", kpp="500701001")


def decode(png: bytes) -> str:
    (found,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert found.format == zxingcpp.BarcodeFormat.QRCode
    return found.text


def test_the_string_follows_the_standard_field_by_field():
    text = payqr.payment_string(REQ, "117", Decimal("1234.50"))
    parts = text.split("|")
    # service block: format id ST, version 0001, encoding 2 (UTF-8)
    assert parts[0] == "ST00012"
    # the five mandatory requisites first, in the standard's order
    assert parts[1:6] == ["Name=СНТ «Рассвет»", "PersonalAcc=40703810040000012345", "BankName=ПАО Сбербанк",
                          "BIC=044525225", "CorrespAcc=30101810400000000225"]
    fields = dict(p.split("=", 1) for p in parts[1:])
    assert fields["PayeeINN"] == "5007012345" and fields["KPP"] == "500701001"
    assert fields["Sum"] == "123450"                         # kopecks, digits only
    assert fields["Purpose"] == "Членские и целевые взносы, л/с 117" and fields["PersAcc"] == "117"
    assert payqr.parse(text) == fields
    assert "Sum=" not in payqr.payment_string(REQ, "117", None)   # the payer types the sum himself


def test_bad_requisites_are_named():
    bad = payqr.Requisites(name="ООО|Ромашка", account="4070381004", bank_name="Б" * 46, bik="04452522",
                           corr_account="0")
    with pytest.raises(InputError) as exc:
        payqr.payment_string(bad, "1", Decimal(1))
    text = str(exc.value)
    assert "«Наименование получателя»: символ «|»" in text and "«Расчётный счёт»: нужно 20 цифр" in text
    assert "«Банк»: не длиннее 45" in text and "«БИК»: нужно 9 цифр" in text


def test_the_image_decodes_back_to_the_same_string():
    text = payqr.payment_string(REQ, "42", Decimal("700"))
    assert decode(payqr.qr_png(text)) == text


def test_receipts_pdf_for_members_with_the_qr(demo_db):
    ids = [r[0] for r in demo_db.fetchall("SELECT id FROM members ORDER BY id LIMIT 2")]
    data = payqr.receipts_pdf(demo_db, ids, date(2026, 3, 1), actor="test")
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 2
    reg_no = demo_db.scalar("SELECT reg_no FROM members WHERE id = ?", [ids[0]])
    assert f"л/с {reg_no}" in reader.pages[0].extract_text()
    (image,) = reader.pages[0].images
    qr = payqr.parse(decode(image.data))
    assert qr["PersAcc"] == reg_no and qr["PersonalAcc"] == cooperative.get_settings(demo_db)["bank_account"]


def test_receipts_need_the_requisites(db):
    with pytest.raises(InputError, match="Корр. счёт банка"):
        payqr.receipts_pdf(db, [1], date(2026, 3, 1))


def test_cli_receipts_for_one_member(demo_db, tmp_path):
    import subprocess
    import sys

    reg_no = demo_db.scalar("SELECT reg_no FROM members ORDER BY id LIMIT 1")
    demo_db.release()
    out = tmp_path / "квитанция.pdf"
    run = subprocess.run([sys.executable, "-m", "ledger.cli", "--db", str(demo_db.path), "notify", "receipts",
                          "--out", str(out), "--member", reg_no, "--as-of", "2026-03-01"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert len(pypdf.PdfReader(out).pages) == 1
    bad = subprocess.run([sys.executable, "-m", "ledger.cli", "--db", str(demo_db.path), "notify", "receipts",
                          "--out", str(tmp_path / "q.txt")], capture_output=True, text=True)
    assert bad.returncode == 1 and "q.txt" in bad.stderr
