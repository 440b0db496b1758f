"""The audit log: append-only (no code updates or deletes it; tampering is detected), filters, export."""

from __future__ import annotations

import re
from pathlib import Path

from openpyxl import load_workbook

from ledger import audit, users
from ledger.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_no_code_updates_or_deletes_the_audit_log():
    pattern = re.compile(r"(UPDATE\s+audit_log|DELETE\s+FROM\s+audit_log|TRUNCATE\s+audit_log|DROP\s+TABLE\s+audit_log)",
                         re.IGNORECASE)
    offenders = []
    for folder in ("ledger", "integrations", "pages"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".sql") and pattern.search(path.read_text("utf-8")):
                offenders.append(str(path.relative_to(ROOT)))
    offenders += [str(p.relative_to(ROOT)) for p in [ROOT / "app.py"] if pattern.search(p.read_text("utf-8"))]
    assert offenders == []
    assert not any(name.startswith(("update", "delete", "remove")) for name in dir(audit))
    # The one exception, on purpose: the chain's MAC columns are rewritten when the key changes (migration 0061
    # re-keys the older unkeyed chain once; a vault rotation re-keys it after verifying it under the old key).
    rewrites = [str(p.relative_to(ROOT)) for folder in ("ledger", "integrations", "pages")
                for p in (ROOT / folder).rglob("*.py") if 'update_rows(con, "audit_log"' in p.read_text("utf-8")]
    assert rewrites == ["ledger/audit.py"]


def test_hash_chain_detects_edit_and_deletion(db):
    users.add_user(db, "root", "пароль-админа", "admin")
    for i in range(4):
        audit.record(db, "root", "settings_changed", f"t{i}", keys=[i])
    assert audit.verify_chain(db) == []
    ids = [r["id"] for r in audit.entries(db)][::-1]
    with db.transaction() as con:  # an edit behind the application's back
        con.execute("UPDATE audit_log SET actor = 'someone' WHERE id = ?", [ids[2]])
    assert audit.verify_chain(db) == [ids[2]]
    with db.transaction() as con:
        con.execute("UPDATE audit_log SET actor = 'root' WHERE id = ?", [ids[2]])
        con.execute("DELETE FROM audit_log WHERE id = ?", [ids[3]])
    assert audit.verify_chain(db) == [ids[4]]  # its successor lost its link
    assert main(["--db", str(db.path), "audit", "verify"]) == 1


def test_external_call_columns_and_query_string_dropped(db):
    audit.external_call(db, "sber", "GET", ok=False, host="api.example.ru", path="/v1/statements?token=abc123",
                        status=503, duration_ms=12, nbytes=345, error="сервер ответил 503")
    row = audit.entries(db, integration="sber")[0]
    assert (row["action"], row["integration"], row["operation"], row["host"], row["path"], row["status"],
            row["duration_ms"], row["bytes"], row["ok"]) == \
        ("external_call", "sber", "GET", "api.example.ru", "/v1/statements", "503", 12, 345, False)
    assert "abc123" not in str(row)


def test_signins_are_logged_and_filterable(db):
    users.add_user(db, "olga", "пароль-бухгалтера", "accountant")
    users.authenticate(db, "olga", "неверно")
    users.authenticate(db, "olga", "пароль-бухгалтера")
    assert [r["action"] for r in audit.entries(db, actor="olga")] == ["signin", "signin_failed", "user_added"]
    assert [r["action"] for r in audit.entries(db, only_failed=True)] == ["signin_failed"]
    assert len(audit.entries(db, text="бухгалтер")) == 0
    assert len(audit.entries(db, text="ACCOUNTANT")) == 1  # the role in details of user_added


def test_export_writes_rows_and_is_logged(db, tmp_path, capsys):
    for i in range(3):
        audit.record(db, "root", "settings_changed", f"t{i}")
    out = tmp_path / "журнал.xlsx"
    assert main(["--db", str(db.path), "audit", "export", str(out)]) == 0
    ws = load_workbook(out).active
    assert ws.max_row == 1 + 3
    assert ws.cell(2, 4).value == "Изменение настроек"
    assert audit.entries(db, action="audit_exported")[0]["details"] == '{"rows": 3}'


def test_every_logged_action_has_russian_words():
    import ast
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    found = set()
    for path in list((root / "ledger").rglob("*.py")) + list((root / "integrations").rglob("*.py")) + \
            list((root / "pages").glob("*.py")) + [root / "ui.py", root / "app.py"]:
        text = path.read_text("utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("log", "record") and getattr(node.func.value, "id", "") == "audit":
                action = node.args[2]
                for part in (action.body, action.orelse) if isinstance(action, ast.IfExp) else (action,):
                    if isinstance(part, ast.Constant):
                        found.add(part.value)
        found |= {f"match_{a}" for a in re.findall(r'_log_decision\(con, [^,]+, "([a-z]+)"', text)}
    assert {"match_confirm", "signin", "export_personal_data", "user_disabled"} <= found
    assert found - set(audit.ACTIONS) == set()


def test_objects_and_details_in_words():
    assert audit.target_label("match_confirm", "payment:214") == "платёж №214"
    assert audit.target_label("settings_changed", "cooperative") == "настройки кооператива"
    assert audit.details_text('{"rows": 3, "what": "реестр членов", "same_file": true}') == \
        "строк: 3; что: реестр членов; тот же файл: да"


def test_audit_page_shows_words_not_json(db):
    from tests.test_pages import page_test

    users.add_user(db, "olga", "пароль-бухгалтера", "accountant")
    audit.record(db, "olga", "match_confirm", "payment:214", member_id=7)
    at = page_test("pages/audit.py", "admin").run()
    assert not at.exception
    table = at.dataframe[0].value
    row = table[table["Объект"] == "платёж №214"].iloc[0]
    assert (row["Действие"], row["Подробности"]) == ("Платёж разнесён вручную", "член (id): 7")
    assert not any(str(v).startswith("{") for v in table["Подробности"])
