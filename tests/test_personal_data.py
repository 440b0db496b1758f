"""Personal data of members (152-ФЗ): INN, phones and e-mail stored encrypted per field, plaintext to callers,
search by phone and e-mail still works, rotation re-encrypts them, the UI masks them until a logged reveal."""

from __future__ import annotations

import os

import pytest

from ledger import audit, members, vault
from ledger.vault import VaultError
from tests.conftest import xlsx_bytes
from tests.test_pages import page_test

INN = "500100732259"  # valid personal INN (control digits checked by fields.person_inn)
ROWS = [["№ л/с", "ФИО", "ИНН", "Телефон", "Эл. почта", "Участок"],
        ["1", "Иванова Анна Петровна", INN, "8 916 123-45-67", "Anna.Ivanova@Mail.ru", "7"],
        ["2", "Петров Олег", None, "+7 (903) 111-22-33", None, "8"]]


@pytest.fixture
def register(db):
    members.import_register(db, xlsx_bytes(ROWS), "реестр.xlsx")
    return db


def raw(db, sql="SELECT inn, phones, emails FROM members ORDER BY reg_no"):
    return db.fetchall(sql)


def test_stored_encrypted_returned_in_plain(register):
    db = register
    stored = raw(db)
    assert all(v is None or v.startswith("v1:") for row in stored for v in row)
    db_bytes = db.path.read_bytes()
    for secret in (INN, "79161234567", "anna.ivanova@mail.ru", "79031112233"):
        assert secret.encode() not in db_bytes
    (anna,) = [m for m in members.list_members(db) if m["reg_no"] == "1"]
    assert (anna["inn"], anna["phones"], anna["emails"]) == (INN, "+79161234567", "anna.ivanova@mail.ru")
    assert members.get_member(db, anna["id"])["inn"] == INN
    assert members.find_by_inn(db, INN)[0]["reg_no"] == "1"
    assert members.personal_data(db)[anna["id"]] == {"inn": INN, "phones": "+79161234567",
                                                    "emails": "anna.ivanova@mail.ru"}


def test_search_by_phone_and_email_still_works(register):
    db = register
    assert [m["reg_no"] for m in members.list_members(db, "1112233")] == ["2"]
    assert [m["reg_no"] for m in members.list_members(db, "ivanova@")] == ["1"]
    assert [m["reg_no"] for m in members.list_members(db, "+7916")] == ["1"]
    assert members.list_members(db, "nobody@") == []


def test_changes_history_is_encrypted_too(register):
    db = register
    anna = members.find_by_reg_no(db, "1")
    members.update_member(db, anna["id"], {"phones": "+7 916 000-00-01", "notes": "звонить вечером"}, actor="olga")
    stored = dict(db.fetchall("SELECT field, new_value FROM member_changes WHERE member_id = ?", [anna["id"]]))
    assert stored["phones"].startswith("v1:") and stored["notes"] == "звонить вечером"
    changes = {c["field"]: c for c in members.member_history(db, anna["id"])["changes"]}
    assert (changes["phones"]["old_value"], changes["phones"]["new_value"]) == ("+79161234567", "+79160000001")
    assert members.import_register(db, xlsx_bytes(ROWS), "реестр.xlsx").updated == 1  # the file's phone again


def test_export_contains_plaintext_and_is_logged(register, tmp_path):
    out = tmp_path / "выгрузка.csv"
    members.export_register(register, out, actor="olga")
    text = out.read_text("utf-8")
    assert INN in text and "anna.ivanova@mail.ru" in text and "v1:" not in text
    assert audit.entries(register, action="export_personal_data")[0]["details"] == '{"rows": 2, "what": "реестр членов"}'


def test_rotation_reencrypts_personal_data(register):
    db = register
    anna = members.find_by_reg_no(db, "1")
    members.update_member(db, anna["id"], {"inn": None}, actor="olga")
    before = raw(db)
    done = vault.rotate(db)
    assert done["members"] == 2
    after = raw(db)
    assert before != after and all(v is None or v.startswith("v1:") for row in after for v in row)
    old_id = before[1][1].split(":")[1]
    assert old_id not in str(after)
    assert old_id not in str(db.fetchall("SELECT old_value, new_value FROM member_changes WHERE field = 'inn'"))
    assert members.get_member(db, anna["id"])["phones"] == "+79161234567"
    assert members.member_history(db, anna["id"])["changes"][0]["old_value"] == INN


def test_wrong_key_is_a_clear_error(register, monkeypatch):
    monkeypatch.setenv("COOP_MASTER_KEY", os.urandom(32).hex())
    with pytest.raises(VaultError, match="не подходит"):
        members.list_members(register)


def test_demo_ledger_is_encrypted(demo_db):
    assert demo_db.scalar("SELECT count(*) FROM members WHERE phones IS NOT NULL AND NOT starts_with(phones, 'v1:')") == 0
    assert demo_db.scalar("SELECT count(*) FROM members WHERE starts_with(phones, 'v1:')") > 100
    assert all(m["phones"] is None or m["phones"].startswith("+7") for m in members.list_members(demo_db))


def test_page_masks_until_a_logged_reveal(register):
    at = page_test("pages/members.py", "accountant").run()
    table = at.dataframe[0].value
    assert "+79161234567" not in list(table["Телефоны"]) and any("*" in str(v) for v in table["Телефоны"])
    assert audit.entries(register, action="personal_data_revealed") == []
    at.toggle(key="reveal_pd").set_value(True).run()
    assert not at.exception
    assert "+79161234567" in list(at.dataframe[0].value["Телефоны"])
    at.run()  # the same view again: not logged twice
    anna = members.find_by_reg_no(register, "1")
    at.selectbox(key="card_member").set_value(anna["id"]).run()
    logged = audit.entries(register, action="personal_data_revealed")
    assert [(e["actor"], e["target"].split(":")[0]) for e in logged][::-1] == [("test-accountant", "реестр"),
                                                                              ("test-accountant", "л/с 1")]
    assert '"rows": 2' in logged[-1]["details"]
    assert any(t.label == "ИНН" and t.value == INN for t in at.text_input)


def test_edit_without_reveal_keeps_hidden_fields(register):
    anna = members.find_by_reg_no(register, "1")
    at = page_test("pages/members.py", "accountant").run()
    at.selectbox(key="card_member").set_value(anna["id"]).run()
    assert [t.value for t in at.text_input if t.label == "ИНН"] == [""]  # only the empty one of "Добавить члена"
    next(t for t in at.text_input if t.label == "Примечание").set_value("ключ у соседа")
    next(b for b in at.button if b.label == "Сохранить").click().run()
    assert not at.exception
    after = members.get_member(register, anna["id"])
    assert (after["notes"], after["inn"], after["phones"]) == ("ключ у соседа", INN, "+79161234567")
    assert audit.verify_chain(register) == []


def test_matching_finds_the_member_by_an_encrypted_inn(register):
    """Payment matching reads INNs through members.member_inns, which decrypts them."""
    from tests.test_matching import decide

    assert raw(register)[0][0].startswith("v1:")
    anna = members.find_by_reg_no(register, "1")
    found = decide(register, "Оплата по договору", payer="Некто", inn=INN)
    assert found["member_id"] == anna["id"] or anna["id"] in [c["member_id"] for c in found["candidates"]]
    assert "ИНН" in (found["reason"] or "") + str(found["candidates"])
